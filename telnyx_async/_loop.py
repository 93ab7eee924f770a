"""Run a coroutine on uvloop when it is installed (the ``speedups`` extra), else on asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")


def fastest_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Uvloop's loop factory when uvloop can be imported, else ``None`` (asyncio's default)."""
    try:
        import uvloop  # pyright: ignore[reportMissingImports]  # the optional 'speedups' extra
    except ImportError:
        return None
    new_loop = uvloop.new_event_loop  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return cast("Callable[[], asyncio.AbstractEventLoop]", new_loop)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run(main)``, but on uvloop when installed (the ``speedups`` extra).

    A library cannot change the loop of an application that is already running;
    this is for scripts and workers that start their own. The CLI uses it.

    Example:
        >>> import telnyx_async
        >>> telnyx_async.run(main())  # doctest: +SKIP
    """
    with asyncio.Runner(loop_factory=fastest_loop_factory()) as runner:
        return runner.run(main)
