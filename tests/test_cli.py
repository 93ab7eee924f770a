"""The telnyx-async command line: exit codes, JSON Lines, progress, Ctrl-C, demo, fake-server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from telnyx_async import Connections, TelnyxSession, _config
from telnyx_async._cli import main, run_bulk
from telnyx_async._cli._progress import NoProgress, PlainProgress, TqdmProgress, make_progress
from telnyx_async.testing import FakeTelnyx, Faults

from .conftest import stop_process

SECRET = "KEYcli-secret-9f8e7d"


@pytest.fixture
def fake() -> Iterator[FakeTelnyx]:
    with FakeTelnyx(connections=50, seed=2).serve_in_thread() as server:
        yield server


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m telnyx_async ARGS` in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "telnyx_async", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


_WATCHED: dict[str, int] = {}
"""Paths whose opens are being counted (see ``count_opens``), with the count so far."""


def _count_open(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHED and args and not isinstance(args[0], int):
        path = os.fsdecode(os.fspath(args[0]))
        if path in _WATCHED:
            _WATCHED[path] += 1


@contextlib.contextmanager
def count_opens(path: Path) -> Iterator[dict[str, int]]:
    """Count every ``open()`` of ``path`` in this process while the block runs."""
    if not getattr(sys, "_telnyx_async_cli_opens", False):
        sys.addaudithook(_count_open)  # audit hooks cannot be removed: install once
        sys._telnyx_async_cli_opens = True  # type: ignore[attr-defined]
    _WATCHED[str(path)] = 0
    try:
        yield _WATCHED
    finally:
        _WATCHED.clear()


def feed_pipe(path: Path, text: str) -> threading.Thread:
    """Create a named pipe at ``path`` and write ``text`` into it once a reader opens it."""
    os.mkfifo(path)

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), open(path, "w") as pipe:
            pipe.write(text)

    thread = threading.Thread(target=write, name="feed-pipe", daemon=True)
    thread.start()
    return thread


def close_pipe(path: Path, writer: threading.Thread) -> None:
    """Let ``writer`` finish even if no reader ever opened the pipe."""
    if writer.is_alive():
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    writer.join()


def test_bulk_streams_json_lines_and_exits_1_on_failures(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every id gets one line, data or error; comments and blanks are skipped; exit 1."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("# my ids\n\n" + "\n".join([*fake.ids[:20], "nope"]) + "\n  \n")
    out = tmp_path / "out.jsonl"
    status = main(
        [
            "bulk",
            str(ids_file),
            "--output",
            str(out),
            "--api-key",
            fake.api_key,
            "--base-url",
            fake.base_url,
            "--concurrency",
            "4",
        ]
    )
    assert status == 1
    records = {r["id"]: r for r in jsonl(out.read_text())}
    assert set(records) == {*fake.ids[:20], "nope"}
    assert records[fake.ids[0]]["data"]["id"] == fake.ids[0]  # type: ignore[index]
    error = records["nope"]["error"]
    assert isinstance(error, dict)
    request_id = error.pop("request_id")
    assert isinstance(request_id, str)
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)  # the fake's x-request-id, for support
    assert error == {
        "status": 404,
        "code": "10005",
        "detail": "The requested resource or URL could not be found.",
        "type": "NotFoundError",
    }
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ok 20, failed 1; 21 ids in \d+\.\d\ds \([\d,]+ ids/s\); 21 requests "
        r"\([\d,]+ requests/s\), retries 0, rate-limited 0",
        summary,
    )


def test_bulk_all_ok_exits_0_and_reads_stdin(fake: FakeTelnyx) -> None:
    """`bulk -` reads stdin; results go to stdout; exit 0 when every id succeeded."""
    result = run_cli(
        "bulk",
        "-",
        env={"TELNYX_API_KEY": fake.api_key, "TELNYX_BASE_URL": fake.base_url},
        stdin="\n".join(fake.ids) + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(str(r["id"]) for r in jsonl(result.stdout)) == sorted(fake.ids)
    assert "ok 50, failed 0" in result.stderr


def test_bulk_summary_counts_in_the_singular_and_plural(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One id: "1 id in", "1 request"; fifty: "50 ids in", "50 requests"."""
    args = ["--api-key", fake.api_key, "--base-url", fake.base_url]
    for ids, noun, requests in (
        (fake.ids[:1], "1 id in", "1 request ("),
        (fake.ids, "50 ids in", "50 requests ("),
    ):
        path = tmp_path / f"ids-{len(ids)}.txt"
        path.write_text("\n".join(ids) + "\n")
        assert main(["bulk", str(path), "-o", str(tmp_path / f"out-{len(ids)}"), *args]) == 0
        err = capsys.readouterr().err
        assert noun in err, err
        assert requests in err, err


def test_get_prints_json_and_fails_on_unknown(
    fake: FakeTelnyx, capsys: pytest.CaptureFixture[str]
) -> None:
    """`get` prints each connection as JSON, in order; an unknown id makes it exit 1."""
    args = ["--api-key", fake.api_key, "--base-url", fake.base_url]
    assert main(["get", fake.ids[3], fake.ids[1], *args]) == 0
    printed = jsonl(capsys.readouterr().out)
    assert [p["id"] for p in printed] == [fake.ids[3], fake.ids[1]]
    assert main(["get", "nope", *args]) == 1
    assert "NotFound" not in capsys.readouterr().out
    assert main(["get", "nope", *args]) == 1
    assert "HTTP 404" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["get", "1"], ["bulk", "-"]])
def test_no_key_is_a_usage_error_that_points_to_demo(command: list[str]) -> None:
    """Without a key, exit 2 and say how to set one, mentioning demo."""
    result = run_cli(*command, stdin="")
    assert result.returncode == 2
    assert "TELNYX_API_KEY" in result.stderr
    assert "--api-key" in result.stderr
    assert "demo" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["bulk", "--concurrency", "0"],
        ["bulk", "/no/such/file"],
        ["bulk", "--timeout", "0"],
        ["bulk", "--max-retries", "-1"],
        ["bulk", "--base-url", "ftp://example.com/v2"],
        ["get", "1", "--base-url", "https://example.com/v2?x=1"],
        ["frobnicate"],
        [],
        ["demo", "--error-rate", "2"],
        ["demo", "--max-retries", "-1"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad flags, a bad base URL, unreadable files and unknown commands exit 2 with a message."""
    argv = [*args, "--api-key", "k"] if args[:1] in (["bulk"], ["get"]) else args
    try:
        code: object = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err


def test_an_ids_file_that_is_not_text_is_a_usage_error(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids that are not UTF-8 exit 2, with a message naming the file."""
    ids_file = tmp_path / "ids.bin"
    ids_file.write_bytes(fake.ids[0].encode() + b"\n\xff\xfe\x00\n")
    args = ["--api-key", fake.api_key, "--base-url", fake.base_url]
    assert main(["bulk", str(ids_file), *args]) == 2
    assert f"cannot read ids from {ids_file}: not UTF-8" in capsys.readouterr().err


def test_a_value_error_from_the_library_is_a_bug_not_a_usage_error(
    fake: FakeTelnyx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected ValueError from inside the library propagates: it is no exit 2."""

    async def broken(self: Connections, ids: object, **options: object) -> AsyncIterator[Any]:
        raise ValueError("a bug inside the library")
        yield  # an async generator, like the real iter_many

    monkeypatch.setattr(Connections, "iter_many", broken)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(fake.ids[0] + "\n")
    with pytest.raises(ValueError, match="a bug inside the library"):
        main(["bulk", str(ids_file), "--api-key", fake.api_key, "--base-url", fake.base_url])


def test_timeout_defaults_to_the_librarys(
    fake: FakeTelnyx, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --timeout, each attempt gets the library's DEFAULT_TIMEOUT, named in the help."""
    monkeypatch.setattr(_config, "DEFAULT_TIMEOUT", 0.2)  # as if the library's default changed
    with pytest.raises(SystemExit):
        main(["bulk", "--help"])
    assert "connecting included (default: 0.2)" in " ".join(capsys.readouterr().out.split())
    fake.faults = Faults(hang_rate=1.0, hang=5.0)
    args = ["--api-key", fake.api_key, "--base-url", fake.base_url, "--max-retries", "0"]
    assert main(["get", fake.ids[0], *args]) == 1
    assert "no complete answer within 0.2s" in capsys.readouterr().err


def test_timeout_flag_bounds_each_attempt(
    fake: FakeTelnyx, capsys: pytest.CaptureFixture[str]
) -> None:
    """--timeout SECONDS is the time allowed for one attempt."""
    fake.faults = Faults(hang_rate=1.0, hang=5.0)
    args = ["--api-key", fake.api_key, "--base-url", fake.base_url, "--max-retries", "0"]
    assert main(["get", fake.ids[0], "--timeout", "0.3", *args]) == 1
    assert "no complete answer within 0.3s" in capsys.readouterr().err


def test_ids_file_is_read_once_without_a_bar(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No bar shown: the ids file is opened once; with a bar, it is also counted for the total."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(fake.ids[:20]) + "\n")
    args = [str(ids_file), "--api-key", fake.api_key, "--base-url", fake.base_url]
    with count_opens(ids_file) as opens:
        assert main(["bulk", *args]) == 0  # stderr is captured, not a terminal: no bar
        assert opens[str(ids_file)] == 1
    assert len(jsonl(capsys.readouterr().out)) == 20
    with count_opens(ids_file) as opens:
        assert main(["bulk", *args, "--progress"]) == 0
        assert opens[str(ids_file)] == 2
    assert "20/20" in capsys.readouterr().err


def test_ids_from_a_pipe_are_read_once_even_with_a_bar(fake: FakeTelnyx, tmp_path: Path) -> None:
    """A named pipe (what `bulk <(cmd)` gets) is not counted: no id is lost to counting."""
    fifo = tmp_path / "ids.fifo"
    writer = feed_pipe(fifo, "\n".join(fake.ids) + "\n")
    try:
        result = run_cli(
            "bulk",
            str(fifo),
            "--progress",
            env={"TELNYX_API_KEY": fake.api_key, "TELNYX_BASE_URL": fake.base_url},
        )
    finally:
        close_pipe(fifo, writer)
    assert result.returncode == 0, result.stderr
    assert sorted(str(r["id"]) for r in jsonl(result.stdout)) == sorted(fake.ids)


async def test_run_bulk_lets_cancellation_through() -> None:
    """Cancelled by asyncio.timeout, run_bulk propagates it: the caller gets TimeoutError."""
    faults = Faults(hang_rate=1.0, hang=30.0)
    out, err = io.BytesIO(), io.StringIO()
    async with (
        FakeTelnyx(connections=20, faults=faults) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await run_bulk(
                    telnyx,
                    iter(server.ids),
                    out,
                    concurrency=4,
                    total=None,
                    progress=False,
                    err=err,
                )
    assert out.getvalue() == b""


def test_key_never_appears_in_cli_output(fake: FakeTelnyx, tmp_path: Path) -> None:
    """A rejected key shows up in neither the results, the messages nor the summary."""
    result = run_cli(
        "bulk", "--api-key", SECRET, "--base-url", fake.base_url, stdin="\n".join(fake.ids) + "\n"
    )
    assert result.returncode == 1
    [line] = jsonl(result.stdout)  # the run stopped at the first 401
    assert line["error"]["status"] == 401  # type: ignore[index]
    assert "stopped: the API rejected the key" in result.stderr
    assert fake.stats.responses[401] <= 50  # at most what was in flight, not one per id
    assert SECRET not in result.stdout + result.stderr
    result = run_cli("get", fake.ids[0], "--api-key", SECRET, "--base-url", fake.base_url)
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr


def test_demo_returns_every_id_despite_faults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The demo runs on the embedded fake with faults, verifies every id and exits 0."""
    out = tmp_path / "demo.jsonl"
    assert main(["demo", "--connections", "800", "--error-rate", "0.1", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "verified: all 800 connections" in err
    assert "demo: listed 800 connections" in err
    match = re.search(r"ok 800, failed 0; 800 ids in .*, retries (\d+)", err)
    assert match
    assert int(match.group(1)) > 0
    assert len(jsonl(out.read_text())) == 800


def test_demo_keeps_to_the_fakes_rate_limit(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's fake limits requests per one-second window; every id still comes back.

    151 requests (a page, then 150 lookups) at 50 a window need four windows: the
    lookups cannot finish in under two seconds if the limit is applied.
    """
    argv = ["demo", "--connections", "150", "--error-rate", "0", "--rate-limit", "50"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "a limit of 50 requests/s" in err
    match = re.search(r"ok 150, failed 0; 150 ids in ([\d.]+)s", err)
    assert match, err
    assert float(match.group(1)) >= 1.9
    assert "verified: all 150 connections" in err


def test_sigint_stops_cleanly_with_complete_lines_and_a_summary(tmp_path: Path) -> None:
    """Ctrl-C mid-run: exit 130, every written line is whole JSON, the summary counts them."""
    faults = Faults(latency=0.02)
    with FakeTelnyx(connections=3000, faults=faults).serve_in_thread() as server:
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("\n".join(server.ids))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
        env.update(TELNYX_API_KEY=server.api_key, TELNYX_BASE_URL=server.base_url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "telnyx_async", "bulk", str(ids_file), "--concurrency", "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            bufsize=0,  # unbuffered: communicate() below must find every byte not read yet
        )
        assert proc.stdout is not None
        # Blocks until 100 results are out: the run is surely under way, however slow the machine.
        head = b"".join(proc.stdout.readline() for _ in range(100))
        rest, err_bytes = stop_process(proc, timeout=60)
    err = err_bytes.decode()
    assert proc.returncode == 130, err
    lines = (head + rest).split(b"\n")
    assert lines[-1] == b""  # the output ends with a newline: no half-written record
    records = [json.loads(line) for line in lines[:-1]]
    assert 100 <= len(records) < 3000
    summary = re.search(r"interrupted: ok (\d+), failed 0; \d+ ids in .*, retries 0,", err)
    assert summary, err
    assert int(summary.group(1)) == len(records)
    assert "Traceback" not in err


def test_fake_server_command_serves_until_interrupted(tmp_path: Path) -> None:
    """`fake-server` prints its URL, serves bulk lookups and stops cleanly on Ctrl-C."""
    ids_file = tmp_path / "ids.txt"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "telnyx_async",
            "fake-server",
            "--port",
            "0",
            "--connections",
            "30",
            "--error-rate",
            "0.1",
            "--ids-file",
            str(ids_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base_url = re.search(r"at (http://127\.0\.0\.1:\d+/v2)", first)
        assert base_url, first
        key_line = proc.stdout.readline() and proc.stdout.readline()
        key = key_line.strip().partition("TELNYX_API_KEY=")[2]
        result = run_cli(
            "bulk",
            str(ids_file),
            "--max-retries",
            "8",
            env={"TELNYX_API_KEY": key, "TELNYX_BASE_URL": base_url.group(1)},
        )
        assert result.returncode == 0, result.stderr
        assert len(jsonl(result.stdout)) == 30
    finally:
        out, err = stop_process(proc)
    assert proc.returncode == 0, err
    assert "served" in out
    assert "Traceback" not in err


def test_progress_display_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """No display off a terminal; tqdm when installed; a plain line without it."""
    stream = io.StringIO()
    assert isinstance(make_progress(stream, 10, enabled=None), NoProgress)
    bar = make_progress(stream, 10, enabled=True)
    assert isinstance(bar, TqdmProgress)
    bar.advance(failed=True)
    bar.close()
    assert "errors=1" in stream.getvalue()
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if the 'cli' extra were absent
    assert isinstance(make_progress(stream, 10, enabled=True), PlainProgress)


def test_plain_progress_line() -> None:
    """The plain line shows done/total, rate, ETA and errors so far."""
    stream = io.StringIO()
    progress = PlainProgress(stream, 4, interval=0.0)
    for failed in (False, True, False):
        progress.advance(failed=failed)
    progress.close()
    last = stream.getvalue().rstrip("\n").split("\r")[-1]
    assert re.match(r"3/4 \(75%\)\s+[\d,]+ ids/s ETA \d+s\s+errors 1", last)
