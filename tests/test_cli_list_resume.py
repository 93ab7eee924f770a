"""The CLI's `list` command, the list | bulk pipe, `bulk --resume`, --pool-size and help texts."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from telnyx_async._cli import build_parser, main, read_previous
from telnyx_async.testing import FakeTelnyx, Faults

from .conftest import stop_process
from .test_cli import jsonl


@pytest.fixture
def fake() -> Iterator[FakeTelnyx]:
    with FakeTelnyx(connections=130, seed=4).serve_in_thread() as server:
        yield server


def client_args(fake: FakeTelnyx) -> list[str]:
    return ["--api-key", fake.api_key, "--base-url", fake.base_url]


def cli_env(fake: FakeTelnyx) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    env.update(TELNYX_API_KEY=fake.api_key, TELNYX_BASE_URL=fake.base_url)
    return env


def newest_first(fake: FakeTelnyx) -> list[str]:
    conns = sorted(fake.connections.values(), key=lambda c: (c.created_at, c.id), reverse=True)
    return [c.id for c in conns if c.id]


# -- list ------------------------------------------------------------------------------


def test_list_writes_every_connection_as_json_lines(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conns.jsonl"
    args = ["list", "--page-size", "50", "-o", str(out), "--progress", *client_args(fake)]
    assert main(args) == 0
    records = jsonl(out.read_text())
    assert [r["id"] for r in records] == newest_first(fake)
    assert records[0] == json.loads(msgspec.json.encode(fake.connections[newest_first(fake)[0]]))
    err = capsys.readouterr().err
    assert "3/3" in err
    assert "page" in err
    assert "listed 130 connections in 3 pages" in err


def test_list_ids_only_with_filters_and_sort(fake: FakeTelnyx, tmp_path: Path) -> None:
    out = tmp_path / "ids.txt"
    # "-connection_name" after --sort is its value, not a flag (argparse alone would refuse it).
    args = ["list", "--ids-only", "--name-contains", "PBX", "--sort", "-connection_name"]
    assert main([*args, "-o", str(out), *client_args(fake)]) == 0
    pbx = [c for c in fake.connections.values() if "pbx" in (c.connection_name or "")]
    expected = [c.id for c in sorted(pbx, key=lambda c: c.connection_name or "", reverse=True)]
    assert pbx
    assert out.read_text().splitlines() == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name-contains", "ab"], "at least 3 characters"),
        (["--page-size", "300"], "--page-size must be from 1 to 250"),
        (["--outbound-voice-profile-id", "x1"], "numeric id"),
    ],
)
def test_list_usage_errors_exit_2(
    fake: FakeTelnyx, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", *args, *client_args(fake)]) == 2
    assert message in capsys.readouterr().err
    assert fake.stats.requests == 0


def test_list_sort_must_be_a_known_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["list", "--sort", "name", "--api-key", "KEYx"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_list_ids_pipe_into_bulk(fake: FakeTelnyx) -> None:
    """`telnyx-async list --ids-only | telnyx-async bulk -`: every connection comes back."""
    env = cli_env(fake)
    lister = subprocess.Popen(
        [sys.executable, "-m", "telnyx_async", "list", "--ids-only", "--page-size", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert lister.stdout is not None
    bulk = subprocess.run(
        [sys.executable, "-m", "telnyx_async", "bulk", "-"],
        stdin=lister.stdout,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    lister.stdout.close()
    _, list_err = lister.communicate(timeout=60)
    assert lister.returncode == 0, list_err
    assert bulk.returncode == 0, bulk.stderr
    records = jsonl(bulk.stdout.decode())
    assert sorted(r["id"] for r in records) == sorted(fake.ids)  # type: ignore[type-var]
    assert all("data" in r for r in records)


def test_list_into_a_reader_that_leaves_early_exits_quietly() -> None:
    """`list | head -1`: a closed pipe ends the walk, exit 0, no traceback."""
    with FakeTelnyx(connections=6000, seed=1).serve_in_thread() as big:
        with subprocess.Popen(
            [sys.executable, "-m", "telnyx_async", "list", "--ids-only"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(big),
        ) as lister:
            assert lister.stdout is not None
            assert lister.stderr is not None
            first = lister.stdout.readline()
            lister.stdout.close()
            err = lister.stderr.read().decode()
            lister.wait(timeout=60)
        assert first.decode().strip() in big.ids
        assert big.stats.requests < 24  # stopped well before the 24 pages
    assert lister.returncode == 0, err
    assert "Traceback" not in err
    assert "BrokenPipe" not in err


# -- help texts and --pool-size ---------------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("name", ["get", "bulk", "list", "demo", "fake-server"])
def test_every_flag_has_help_and_names_its_default(name: str) -> None:
    command = subcommands()[name]
    assert command.description
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        if action.option_strings:
            help_text = action.help % {"default": action.default}
            assert "default" in help_text, f"{name} {action.option_strings} names no default"


def test_concurrency_above_the_default_pool_raises_the_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """--concurrency 150 without --pool-size: a pool of 150, not the default 100.

    Said by what the library does with a pool smaller than the concurrency (one
    WARNING at the call), not by counting requests in flight: how many are in flight
    at once depends on how fast the machine is (in flight = throughput x latency).
    """
    with FakeTelnyx(connections=200).serve_in_thread() as server:
        ids = tmp_path / "ids.txt"
        ids.write_text("\n".join(server.ids))
        out = tmp_path / "out.jsonl"
        args = ["bulk", str(ids), "-o", str(out), "--concurrency", "150", *client_args(server)]
        with caplog.at_level(logging.WARNING, logger="telnyx_async"):
            assert main(args) == 0
        assert server.stats.requests == 200
    assert not [r for r in caplog.records if "more than the pool holds" in r.getMessage()]
    assert "more than --pool-size" not in capsys.readouterr().err


def test_a_pool_smaller_than_the_concurrency_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    faults = Faults(latency=0.02)
    with FakeTelnyx(connections=60, faults=faults).serve_in_thread() as server:
        ids = tmp_path / "ids.txt"
        ids.write_text("\n".join(server.ids))
        args = ["bulk", str(ids), "-o", str(tmp_path / "o"), "--concurrency", "30"]
        assert main([*args, "--pool-size", "5", *client_args(server)]) == 0
        assert server.stats.max_in_flight <= 5
    err = capsys.readouterr().err
    assert err.count("--concurrency 30 is more than --pool-size 5") == 1
    # Not the library's WARNING too: said once is enough.
    assert not [r for r in caplog.records if "more than the pool holds" in r.getMessage()]


# -- bulk --resume ----------------------------------------------------------------------


def line_for(conn_id: str, ok: bool) -> str:
    if ok:
        return json.dumps({"id": conn_id, "data": {"id": conn_id}}) + "\n"
    return json.dumps({"id": conn_id, "error": {"status": 503}}) + "\n"


def check_results_file(path: Path, ids: list[str]) -> None:
    """Every id has exactly one data line, and its last line is that data line."""
    data_lines: Counter[str] = Counter()
    last: dict[str, dict[str, object]] = {}
    for record in jsonl(path.read_text()):
        conn_id = str(record["id"])
        last[conn_id] = record
        data_lines[conn_id] += "data" in record
    assert set(last) == set(ids)
    assert all(data_lines[i] == 1 for i in ids), [i for i in ids if data_lines[i] != 1][:5]
    assert all("data" in last[i] for i in ids)


def test_resume_skips_done_ids_retries_failed_ones_and_drops_a_half_line(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fake.ids[:30]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    out = tmp_path / "out.jsonl"
    previous = "".join(line_for(i, ok=True) for i in ids[:10])
    previous += "".join(line_for(i, ok=False) for i in ids[10:15])
    out.write_text(previous + '{"id": "' + ids[15] + '", "data": {"id"')  # cut by a crash
    assert main(["bulk", str(ids_file), "-o", str(out), "--resume", *client_args(fake)]) == 0
    check_results_file(out, ids)
    assert fake.stats.requests == 20  # the 5 failed and the 15 never done; not the 10 done
    assert out.read_text().startswith(previous)  # earlier lines kept as they were
    err = capsys.readouterr().err
    assert "dropped a half-written last line" in err
    assert "resumed: 10 ids already done in the output file were skipped" in err
    assert "ok 20, failed 0; 20 ids" in err


def test_resume_of_a_missing_file_starts_one(fake: FakeTelnyx, tmp_path: Path) -> None:
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(fake.ids[:5]))
    out = tmp_path / "new.jsonl"
    assert main(["bulk", str(ids_file), "-o", str(out), "--resume", *client_args(fake)]) == 0
    check_results_file(out, fake.ids[:5])


def test_resume_needs_an_output_file(fake: FakeTelnyx, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bulk", "--resume", *client_args(fake)]) == 2
    assert "--resume needs --output FILE" in capsys.readouterr().err


def test_read_previous_never_parses_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(
        b'{"id": "1", "data": {}}\n'
        b"not json\n"
        b'{"id": 2, "data": {}}\n'  # an id that is not a string: unreadable
        b'{"id": "3", "error": {}}\n'
        b'{"id": "3", "data": {}}\n'
        b'{"id": "4", "error": {}}\n'
        b'{"id": "5", "data": {}}'  # valid JSON, but no newline: a crash may have cut it
    )
    previous = read_previous(path)
    assert previous.done == {"1", "3"}
    assert previous.failed == {"4"}
    assert previous.unreadable == 2
    assert previous.complete_bytes == len(path.read_bytes()) - len(b'{"id": "5", "data": {}}')


def test_a_killed_bulk_run_resumed_ends_with_one_result_per_id(tmp_path: Path) -> None:
    """Kill a real `bulk` (SIGKILL, no clean-up) about 80% through; resume it; check the file."""
    with FakeTelnyx(
        connections=1500, seed=9, faults=Faults(latency=0.004)
    ).serve_in_thread() as server:
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("\n".join(server.ids) + "\n")
        out = tmp_path / "out.jsonl"
        command = [sys.executable, "-m", "telnyx_async", "bulk", str(ids_file), "-o", str(out)]
        proc = subprocess.Popen(
            [*command, "--concurrency", "8"], stderr=subprocess.DEVNULL, env=cli_env(server)
        )
        try:
            deadline = time.monotonic() + 60
            while server.stats.requests < 1200 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        before = read_previous(out)
        assert 0 < len(before.done) < 1500
        resumed = subprocess.run(
            [*command, "--resume"], capture_output=True, text=True, env=cli_env(server), timeout=60
        )
    assert resumed.returncode == 0, resumed.stderr
    check_results_file(out, server.ids)
    assert f"resumed: {len(before.done):,} ids already done" in resumed.stderr
    per_id: defaultdict[str, int] = defaultdict(int)
    for record in jsonl(out.read_text()):
        per_id[str(record["id"])] += 1
    assert max(per_id.values()) == 1  # nothing was done twice: the killed run had no errors


@pytest.mark.parametrize("resume", [False, True])
def test_the_ids_file_cannot_be_the_output(
    fake: FakeTelnyx, tmp_path: Path, resume: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same file in and out would empty it, or (appending) read results back as ids forever."""
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(fake.ids[:5]) + "\n")
    args = ["bulk", str(ids), "-o", str(tmp_path / "." / "ids.txt"), *client_args(fake)]
    assert main([*args, *(["--resume"] if resume else [])]) == 2
    assert "is both the ids file and the output" in capsys.readouterr().err
    assert ids.read_text().splitlines() == fake.ids[:5]
    assert fake.stats.requests == 0


def test_resume_refuses_a_file_that_is_not_bulk_results(
    fake: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(fake.ids[:5]) + "\n")
    listing = tmp_path / "listing.txt"
    listing.write_text("\n".join(fake.ids[:3]) + "\n")  # say, a `list --ids-only` output
    assert main(["bulk", str(ids), "-o", str(listing), "--resume", *client_args(fake)]) == 2
    assert "3 lines that are not bulk results" in capsys.readouterr().err
    assert listing.read_text().splitlines() == fake.ids[:3]


def test_list_messages_name_the_flags(fake: FakeTelnyx, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--page-size", "300", *client_args(fake)]) == 2
    assert "--page-size must be from 1 to 250" in capsys.readouterr().err


def test_fake_server_flag_mistakes_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fake-server", "--port", "99999"]) == 2
    assert "--port must be from 0 to 65535" in capsys.readouterr().err
    assert main(["fake-server", "--ca-file", str(tmp_path / "ca.pem")]) == 2
    assert "add --tls" in capsys.readouterr().err


def test_a_failed_tls_fake_server_leaves_a_running_ones_ca_file(tmp_path: Path) -> None:
    """A second `fake-server --tls` that cannot listen writes no certificate over the first's."""
    ca = tmp_path / "ca.pem"
    command = [sys.executable, "-m", "telnyx_async", "fake-server", "--tls"]
    with subprocess.Popen(
        [*command, "--port", "0", "--connections", "3", "--ca-file", str(ca)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as first:
        try:
            assert first.stdout is not None
            port = re.search(r":(\d+)/v2", first.stdout.readline())
            assert port
            written = ca.read_bytes()
            second = subprocess.run(
                [*command, "--port", port.group(1), "--ca-file", str(ca)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 2
            assert "cannot listen" in second.stderr
            assert ca.read_bytes() == written
        finally:
            stop_process(first)
