"""The telnyx-async command line: exit codes, JSON Lines, progress, Ctrl-C, demo, fake-server."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telnyx_async._cli import main
from telnyx_async._progress import NoProgress, PlainProgress, TqdmProgress, make_progress
from telnyx_async.testing import FakeTelnyx, Faults

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
    assert records["nope"]["error"] == {
        "status": 404,
        "code": "10005",
        "detail": "The requested resource or URL could not be found.",
        "type": "NotFoundError",
    }
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ok 20, failed 1, retries 0, elapsed \d+\.\d\ds, [\d,]+ requests/s", summary
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
        ["frobnicate"],
        [],
        ["demo", "--error-rate", "2"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad flags, unreadable files and unknown commands exit 2 with a message."""
    argv = [*args, "--api-key", "k"] if args[:1] == ["bulk"] else args
    try:
        code: object = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err


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
    match = re.search(r"ok 800, failed 0, retries (\d+)", err)
    assert match
    assert int(match.group(1)) > 0
    assert len(jsonl(out.read_text())) == 800


def test_sigint_stops_cleanly_with_complete_lines_and_a_summary(tmp_path: Path) -> None:
    """Ctrl-C mid-run: exit 130, every written line is whole JSON, the summary prints."""
    faults = Faults(latency=0.02)
    with FakeTelnyx(connections=3000, faults=faults).serve_in_thread() as server:
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("\n".join(server.ids))
        out = tmp_path / "out.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
        env.update(TELNYX_API_KEY=server.api_key, TELNYX_BASE_URL=server.base_url)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "telnyx_async",
                "bulk",
                str(ids_file),
                "-o",
                str(out),
                "--concurrency",
                "8",
            ],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 30
        while server.stats.responses.get(200, 0) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a newline: no half-written record
    records = [json.loads(line) for line in lines[:-1]]
    assert 50 <= len(records) < 3000
    assert re.search(r"interrupted: ok \d+, failed 0, retries 0, elapsed", err)
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
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
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
