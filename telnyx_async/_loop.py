"""Event-loop helpers: run on uvloop when installed, and deadlines on the loop's clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from ._checks import positive

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

    Examples:
        >>> import telnyx_async
        >>> telnyx_async.run(main())  # doctest: +SKIP
    """
    with asyncio.Runner(loop_factory=fastest_loop_factory()) as runner:
        return runner.run(main)


def check_deadline(deadline: float | None) -> float | None:
    """Return ``deadline`` (seconds, or ``None`` for none) if it is > 0.

    Raises:
        ValueError: ``deadline`` is not a number of seconds > 0.
    """
    return None if deadline is None else positive("deadline", deadline)


class Deadline(float):
    """A loop-clock instant that remembers the ``deadline=`` it came from, for messages."""

    seconds: float

    def __new__(cls, at: float, seconds: float) -> Deadline:
        instant = super().__new__(cls, at)
        instant.seconds = seconds
        return instant


def deadline_at(deadline: float | None) -> float | None:
    """The loop-clock instant by which a call started now with ``deadline`` seconds must end.

    The instant is a ``Deadline``: a float that also says its ``seconds``.

    Raises:
        ValueError: ``deadline`` is not a number of seconds > 0.
    """
    seconds = check_deadline(deadline)
    if seconds is None:
        return None
    return Deadline(asyncio.get_running_loop().time() + seconds, seconds)


def deadline_text(deadline_at: float | None) -> str:
    """``"its 0.5s deadline"``, or ``"its deadline"`` when the length is not known."""
    if isinstance(deadline_at, Deadline):
        return f"its {deadline_at.seconds:g}s deadline"
    return "its deadline"


Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]

_INJECTED_TIME: ContextVar[tuple[Sleep, Clock] | None] = ContextVar(
    "telnyx_async_injected_time", default=None
)


def session_time() -> tuple[Sleep, Clock]:
    """The sleep and monotonic clock a new session waits with: the real ones, but in tests."""
    return _INJECTED_TIME.get() or (asyncio.sleep, time.monotonic)


@contextmanager
def injected_time(sleep: Sleep, clock: Clock) -> Generator[None, None, None]:
    """(Tests) Sessions created inside wait with this ``sleep`` and read this ``clock``.

    A test hook kept off ``TelnyxSession``'s signature: the suite waits out backoff
    and rate limits without sleeping.
    """
    token = _INJECTED_TIME.set((sleep, clock))
    try:
        yield
    finally:
        _INJECTED_TIME.reset(token)
