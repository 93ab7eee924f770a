"""Every fenced ``python`` block of README.md and docs/*.md runs, as written.

One test item per block, named ``page:n`` (the n-th python block of the page):

- a block that defines ``test_`` functions is a test file: it runs under pytest in
  a fresh directory, in pytest-asyncio's strict mode, so it must carry its own
  ``@pytest.mark.asyncio``;
- any other block is a script: it runs in a fresh interpreter, in a temporary
  directory holding ``ids.txt``, with ``TELNYX_API_KEY`` and ``TELNYX_BASE_URL``
  pointing at a ``FakeTelnyx`` that serves every id the examples name. Its
  ``__name__`` is not ``"__main__"``, so ``if __name__ == "__main__":`` guards
  start no server.

A block with a ``title="name.py"`` is also saved under that name beside every
later block of its page, which may import it (``from app import make_app``).
A block that cannot run here is preceded by ``<!-- docs-test: skip (reason) -->``;
it is not run, but it is still checked as far as it can be without running it:
it compiles, and every name it imports from ``telnyx_async`` exists.

The tables of docs/configuration.md and the ``Faults`` table are checked
against the code's signatures, so that no documented default drifts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from telnyx_async import AdaptiveRateLimiter, Connections, RetryBudget, RetryPolicy, TelnyxSession
from telnyx_async.testing import EXAMPLE_IDS, FakeTelnyx, Faults, generate_connections

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMED_IDS = EXAMPLE_IDS
"""The ids the examples look up by name; the fake serves them."""
TIMEOUT = 60.0
"""Seconds one example may take."""

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\s*\((?P<reason>[^()]*)\)\s*-->$")
MARKER = re.compile(r"<!--\s*docs-test")
TEST_FUNCTION = re.compile(r"^(?:async +)?def +test_", re.M)
# Written to stderr when an example leaks a session, a connection or a task.
LEAKS = ("Unclosed", "ResourceWarning", "Exception ignored", "Task was destroyed")
RUN_SCRIPT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='docs_example')"


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced python block of a page."""

    page: str
    """The page's path, relative to the repository."""
    index: int
    """1-based, among the page's python blocks."""
    line: int
    """1-based line of the opening fence."""
    code: str
    title: str | None
    """The file name given by ``title="..."``, if any."""
    skip: str | None
    """The reason of a ``docs-test: skip`` marker, if any."""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.index}"

    @property
    def module(self) -> str:
        """The name the block is saved under, without ``.py``."""
        if self.title:
            return self.title.removesuffix(".py")
        slug = re.sub(r"\W+", "_", self.page.lower())
        return f"{'test_' if self.is_test else ''}{slug}_{self.index}"

    @property
    def is_test(self) -> bool:
        return TEST_FUNCTION.search(self.code) is not None


def fences(text: str) -> Iterator[tuple[int, str, str, str | None]]:
    """Yield ``(line, info, body, preceding line)`` for each fenced block of a Markdown text.

    ``line`` is the 1-based line of the opening fence; the body is dedented by the
    fence's indentation; the preceding line is the nearest non-blank line before it.
    """
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        body = "".join(
            (line[len(indent) :] if line.startswith(indent) else line.lstrip()) + "\n"
            for line in lines[i + 1 : end]
        )
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), None)
        yield i + 1, opening["info"].strip(), body, before
        i = end + 1


def collect(page: Path) -> list[Block]:
    """The python blocks of one page, with their markers."""
    name = page.relative_to(ROOT).as_posix()
    blocks: list[Block] = []
    for line, info, body, before in fences(page.read_text(encoding="utf-8")):
        words = info.split()
        if not words or words[0] != "python":
            continue
        title = re.search(r'title="([^"]+)"', info)
        marker = SKIP.match(before) if before is not None else None
        blocks.append(
            Block(
                page=name,
                index=len(blocks) + 1,
                line=line,
                code=body,
                title=title[1] if title else None,
                skip=marker["reason"].strip() if marker else None,
            )
        )
    return blocks


BLOCKS = [block for page in PAGES for block in collect(page)]


def siblings(block: Block) -> list[Block]:
    """The titled blocks before ``block`` on its page: files it may import."""
    return [b for b in BLOCKS if b.page == block.page and b.index < block.index and b.title]


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeTelnyx]:
    """A FakeTelnyx in a thread serving the named ids and 1,000 generated connections."""
    named = [
        msgspec.structs.replace(conn, id=conn_id)
        for conn, conn_id in zip(
            generate_connections(len(NAMED_IDS), seed=1), NAMED_IDS, strict=True
        )
    ]
    with FakeTelnyx([*named, *generate_connections(1000, seed=0)]).serve_in_thread() as server:
        yield server


def example_env(fake: FakeTelnyx) -> dict[str, str]:
    """The environment of an example: the user's, with the Telnyx variables on the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    env.update(TELNYX_API_KEY=fake.api_key, TELNYX_BASE_URL=fake.base_url)
    env.update(PYTHONDONTWRITEBYTECODE="1")
    return env


def run_script(block: Block, cwd: Path, fake: FakeTelnyx) -> None:
    """Run a script block in a fresh interpreter; fail with its output unless it succeeds."""
    for sibling in siblings(block):
        (cwd / f"{sibling.module}.py").write_text(sibling.code, encoding="utf-8")
    (cwd / "ids.txt").write_text("".join(f"{i}\n" for i in fake.ids[len(NAMED_IDS) :]))
    path = cwd / f"{block.module}.py"
    path.write_text(block.code, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", RUN_SCRIPT, str(path)],
            cwd=cwd,
            env=example_env(fake),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.page} line {block.line}: still running after {TIMEOUT:g}s:\n{exc}")
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    if done.returncode != 0:
        pytest.fail(f"{block.page} line {block.line}: exit status {done.returncode}\n{output}")
    leaks = [marker for marker in LEAKS if marker in done.stderr]
    if leaks:
        pytest.fail(f"{block.page} line {block.line}: leaked ({', '.join(leaks)})\n{output}")


def run_tests(
    block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake: FakeTelnyx
) -> None:
    """Run a block of tests with pytest, as a user's test file, in strict asyncio mode."""
    # As in a shell where `telnyx-async fake-server` was just run: the examples
    # must not depend on these being unset.
    for name, value in example_env(fake).items():
        if name.startswith("TELNYX_"):
            monkeypatch.setenv(name, value)
    # Only the plugins the examples say to install: pytest-asyncio and the
    # fake_telnyx fixture (its pytest11 entry point is tested in test_pytest_plugin.py).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(**{b.module: b.code for b in [*siblings(block), block]})
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_asyncio.plugin",
        "-p",
        "telnyx_async.pytest_plugin",
        "-o",
        "asyncio_mode=strict",
        # Configuration, not the example's business: without it pytest-asyncio
        # warns, and warnings are errors here.
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-W",
        "error",
        timeout=TIMEOUT,
    )
    expected = len(TEST_FUNCTION.findall(block.code))
    outcomes = result.parseoutcomes()
    if result.ret != 0 or outcomes.get("passed") != expected:
        pytest.fail(
            f"{block.page} line {block.line}: expected {expected} passed, got {outcomes}\n"
            + "\n".join(result.outlines[-60:])
        )


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example(
    block: Block,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_api: FakeTelnyx,
) -> None:
    """The block runs as written and succeeds (or is marked, with a reason, and compiles)."""
    compile(block.code, f"{block.page}:{block.line}", "exec")
    if block.skip is not None:
        assert block.skip, f"{block.page} line {block.line}: the skip marker gives no reason"
        assert_library_names_exist(block)
        return
    if block.is_test:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        run_tests(block, pytester, monkeypatch, fake_api)
    else:
        run_script(block, tmp_path, fake_api)


def python_fences(text: str) -> list[int]:
    """Lines of every fence whose language looks like Python, however it is spelled."""
    return [
        line
        for line, info, _, _ in fences(text)
        if re.match(r"\{?\.?(py|python3?|pycon|ipython)\b", info.split()[0] if info else "")
    ]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_python_block_is_collected(page: Path) -> None:
    """Each python-looking fence of a page is a collected block, and every marker has a reason."""
    text = page.read_text(encoding="utf-8")
    blocks = collect(page)
    assert [b.line for b in blocks] == python_fences(text), (
        "a fence spelled other than ```python would escape the example tests"
    )
    if "```python" in text:
        assert blocks, "the page has python blocks but none was collected"
    lines = text.splitlines()
    markers = [n for n, line in enumerate(lines, 1) if MARKER.search(line)]
    for n in markers:
        found = SKIP.match(lines[n - 1].strip())
        assert found is not None, f"line {n}: write <!-- docs-test: skip (the reason) -->"
        assert found["reason"].strip(), f"line {n}: a skip marker must give its reason"
    assert len(markers) == sum(b.skip is not None for b in blocks), (
        "a docs-test marker must come right before the ```python block it is about"
    )


def test_the_docs_have_examples() -> None:
    """The collector finds the examples: most pages have some, and few are skipped."""
    pages = {b.page for b in BLOCKS}
    assert {"README.md", "docs/index.md", "docs/bulk.md", "docs/service.md"} <= pages
    assert len(BLOCKS) >= 20
    assert sum(b.skip is not None for b in BLOCKS) <= 2, "keep unrunnable examples rare"


def table(page: str, heading: str) -> dict[str, str]:
    """``name -> default`` from the first table under ``heading`` in ``page``.

    A row names its fields in backticks in its first cell and gives their
    defaults, in backticks and in the same order, in its second.
    """
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        defaults = re.findall(r"`([^`]*)`", cells[1])
        if not names:
            continue  # the header or the separator
        assert len(names) == len(defaults), f"{page}: {line}"
        rows.update(zip(names, defaults, strict=True))
    assert rows, f"{page}: no table under {heading!r}"
    return rows


def assert_library_names_exist(block: Block) -> None:
    """Every ``from telnyx_async... import name`` of a block that is not run names a real thing."""
    import ast
    import importlib

    for node in ast.walk(ast.parse(block.code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("telnyx_async"):
            module = importlib.import_module(node.module or "")
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{block.id}: {node.module} has no {missing}"


def defaults_of(
    function: Callable[..., object], *, skip: tuple[str, ...] = ()
) -> dict[str, object]:
    """Each public parameter's default (``inspect.Parameter.empty`` for none).

    ``self`` and private test hooks (``_sleep``, ``_clock``) are left out.
    """
    parameters = inspect.signature(function).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.name != "self" and not p.name.startswith("_") and p.name not in skip
    }


@pytest.mark.parametrize(
    ("page", "heading", "code"),
    [
        ("docs/configuration.md", "## `TelnyxSession`", defaults_of(TelnyxSession)),
        ("docs/configuration.md", "## `RetryPolicy`", defaults_of(RetryPolicy)),
        (
            "docs/configuration.md",
            "## `RetryBudget`",
            defaults_of(RetryBudget, skip=("tokens", "stamp")),  # state, not configuration
        ),
        ("docs/configuration.md", "## `AdaptiveRateLimiter`", defaults_of(AdaptiveRateLimiter)),
        (
            "docs/configuration.md",
            "## Per call",
            {
                **defaults_of(Connections.get, skip=("conn_id",)),
                **defaults_of(Connections.iter_many, skip=("ids",)),
                **defaults_of(Connections.gather_many, skip=("ids",)),
            },
        ),
        (
            "docs/configuration.md",
            "## `list` and `count`",
            {**defaults_of(Connections.list), **defaults_of(Connections.count)},
        ),
        ("docs/testing-your-code.md", "## Injecting faults", defaults_of(Faults)),
    ],
    ids=[
        "TelnyxSession",
        "RetryPolicy",
        "RetryBudget",
        "AdaptiveRateLimiter",
        "per-call",
        "list-count",
        "Faults",
    ],
)
def test_documented_defaults_match_the_code(
    page: str, heading: str, code: dict[str, object]
) -> None:
    """Every argument is documented, with the default the code has."""
    documented = table(page, heading)
    assert sorted(documented) == sorted(code)
    names = {"asyncio": asyncio, "time": time}
    for name, text in documented.items():
        assert eval(text, names) == code[name], f"{page}: {name} defaults to {code[name]!r}"
