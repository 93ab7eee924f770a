"""The README's testing examples run as written, in a user's own test suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
