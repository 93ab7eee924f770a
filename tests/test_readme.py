"""The README's testing examples run as written, in a user's own test suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import stop_process

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_testing_examples_pass(pytester: pytest.Pytester) -> None:
    """Every python block that defines a test_ function passes under pytest."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "def test_" in b]
    assert len(blocks) >= 2
    for n, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_readme_{n}": block})
    # Strict mode, pytest-asyncio's default: the examples must carry their own markers.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=len(blocks))


def test_readme_has_exactly_two_setup_commands() -> None:
    """One command runs the demo, one the test suite, both from a fresh venv."""
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2
    assert commands[0].endswith("telnyx-async demo")
    assert commands[1].endswith("pytest")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert commands[1].split(" && ", 2)[2] in ci


def test_readme_use_snippet_runs_against_the_fake_server_command(tmp_path: Path) -> None:
    """The "Use" snippet as a user runs it: `telnyx-async fake-server`, then the script."""
    snippet = re.search(r"## Use\n\n```python\n(.*?)```", README, re.S)
    assert snippet, "README has no Use snippet"
    script = tmp_path / "use.py"
    script.write_text(snippet.group(1))
    server = subprocess.Popen(
        [sys.executable, "-m", "telnyx_async", "fake-server", "--port", "0", "--connections", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
        for line in lines[1:]:
            name, _, value = line.strip().removeprefix("export ").partition("=")
            env[name] = value
        assert set(env) >= {"TELNYX_BASE_URL", "TELNYX_API_KEY"}, lines
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
        )
    finally:
        stop_process(server)
    assert done.returncode == 0, done.stderr
    assert "2 connections" in done.stdout
    assert "failed" not in done.stdout
