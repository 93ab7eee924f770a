"""telnyx_async.run: uvloop when installed, asyncio otherwise."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

import telnyx_async
from telnyx_async._loop import fastest_loop_factory


def test_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvloop the default loop runs the coroutine and returns its result."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert fastest_loop_factory() is None

    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert telnyx_async.run(main()).startswith("asyncio")


def test_uses_uvloop_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """When uvloop imports, its new_event_loop is the loop factory."""
    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        made.append(loop)
        return loop

    fake = types.ModuleType("uvloop")
    fake.new_event_loop = new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert fastest_loop_factory() is new_event_loop

    async def main() -> int:
        return 7

    assert telnyx_async.run(main()) == 7
    assert len(made) == 1
