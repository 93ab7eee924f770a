"""The one public import surface."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import telnyx_async


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted, every name in it exists, and every public name is in it."""
    names = telnyx_async.__all__
    # isort style, as ruff's RUF022 enforces: CONSTANTS, then the rest, each sorted.
    assert names == sorted(n for n in names if n.isupper()) + sorted(
        n for n in names if not n.isupper()
    )
    assert all(hasattr(telnyx_async, name) for name in names)
    public = {
        name
        for name, value in vars(telnyx_async).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)  # public submodules
    } | {"__version__"}
    assert set(names) == public


def test_every_public_name_has_a_docstring() -> None:
    """Each exported class and function documents itself."""
    for name in telnyx_async.__all__:
        obj = getattr(telnyx_async, name)
        if isinstance(obj, type) or callable(obj):
            assert (obj.__doc__ or "").strip(), name


def test_package_is_typed() -> None:
    """py.typed ships, so mypy users get our annotations."""
    assert (Path(telnyx_async.__file__).parent / "py.typed").exists()


def test_error_tree() -> None:
    """Every error is a TelnyxError; timeouts are connection errors."""
    t = telnyx_async
    assert issubclass(t.APITimeoutError, t.APIConnectionError)
    for name in telnyx_async.__all__:
        obj = getattr(t, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, t.TelnyxError), name
    for cls in (t.NotFoundError, t.RateLimitError, t.InternalServerError):
        assert issubclass(cls, t.APIStatusError)


def test_public_exceptions_are_reported_under_the_package() -> None:
    """A traceback says telnyx_async.APITimeoutError, and a pickled error comes back."""
    import pickle

    errors = [
        value
        for name in telnyx_async.__all__
        if isinstance(value := getattr(telnyx_async, name), type)
        and issubclass(value, BaseException)
    ]
    assert len(errors) >= 15
    for error in errors:
        assert error.__module__ == "telnyx_async", error
    back = pickle.loads(pickle.dumps(telnyx_async.NotFoundError("gone", status=404)))
    assert type(back) is telnyx_async.NotFoundError


def test_docstring_examples_are_titled_as_the_reference_renders_them() -> None:
    """The reference renders "Examples:" as code, a singular "Example:" as nested quotes."""
    import re

    package = Path(telnyx_async.__file__).parent
    singular = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.fullmatch(r"\s*Example:\s*", line)
    ]
    assert singular == []


def test_help_shows_only_public_parameters_and_the_resource() -> None:
    """help(TelnyxSession): no test hooks in its signature, and `connections` documented."""
    import inspect
    import pydoc

    parameters = inspect.signature(telnyx_async.TelnyxSession).parameters
    assert not [name for name in parameters if name.startswith("_")]
    text = pydoc.plain(pydoc.render_doc(telnyx_async.TelnyxSession))
    assert "connections\n" in text
    assert "The Connections resource" in text


def _drawn_tree(text: str) -> dict[str, str]:
    """``{class: parent}`` from a box-drawn tree: a name's column says its depth (4 a level)."""
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in textwrap.dedent(text).splitlines():
        found = re.search(r"(?:^|── )([A-Z]\w*Error)\b", line)
        if not found:
            continue
        depth = found.start(1) // 4
        del stack[depth:]
        if stack:
            parents[found[1]] = stack[-1]
        stack.append(found[1])
    return parents


def _real_tree() -> dict[str, str]:
    """``{class: parent}`` for every subclass of TelnyxError, by its first TelnyxError base."""
    tree: dict[str, str] = {}
    todo = [telnyx_async.TelnyxError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__ == "telnyx_async":
                tree[sub.__name__] = cls.__name__
                todo.append(sub)
    return tree


@pytest.mark.parametrize("where", ["module docstring", "docs/errors.md"])
def test_the_drawn_exception_trees_are_the_real_one(where: str) -> None:
    """Both drawings of the tree hold every public error under its real parent, and no other."""
    from telnyx_async import _errors

    if where == "module docstring":
        text = (_errors.__doc__ or "").split("::\n", 1)[1].split("\n\n", 1)[0]
    else:
        page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
        text = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert _drawn_tree(text) == _real_tree()
