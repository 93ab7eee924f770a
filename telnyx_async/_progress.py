"""Progress shown on stderr during a bulk run: tqdm when installed, else a plain line."""

from __future__ import annotations

import time
from typing import Protocol, TextIO


class Progress(Protocol):
    """Told about every finished id; draws nothing, a plain line, or a bar."""

    def advance(self, *, failed: bool) -> None:
        """One more id is done."""

    def close(self) -> None:
        """Finish the display (leave the last state on screen)."""


class NoProgress:
    """Shows nothing: stderr is not a terminal, or progress was turned off."""

    def advance(self, *, failed: bool) -> None:
        """Ignore the update."""

    def close(self) -> None:
        """Nothing to finish."""


class PlainProgress:
    """A single self-overwriting line, redrawn at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO, total: int | None, *, interval: float = 0.2) -> None:
        self._stream = stream
        self._total = total
        self._interval = interval
        self._start = time.monotonic()
        self._drawn = 0.0
        self.done = 0
        self.failed = 0

    def advance(self, *, failed: bool) -> None:
        """Count the id and redraw if the last draw is old enough."""
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self._drawn >= self._interval:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        if self._total:
            eta = (self._total - self.done) / rate if rate else 0.0
            head = f"{self.done}/{self._total} ({100 * self.done / self._total:.0f}%)"
            tail = f" ETA {eta:.0f}s"
        else:
            head, tail = f"{self.done}", ""
        line = f"\r{head}  {rate:,.0f} ids/s{tail}  errors {self.failed}"
        self._stream.write(line.ljust(60))
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


class TqdmProgress:
    """A tqdm bar: done/total, rate, ETA, and the errors so far as a postfix."""

    def __init__(self, stream: TextIO, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, file=stream, unit="id", dynamic_ncols=True, smoothing=0.1)
        self._bar.set_postfix({"errors": 0})  # pyright: ignore[reportUnknownMemberType]
        self._failed = 0

    def advance(self, *, failed: bool) -> None:
        """Advance the bar; refresh the postfix only when the error count changes."""
        if failed:
            self._failed += 1
            self._bar.set_postfix({"errors": self._failed}, refresh=False)  # pyright: ignore[reportUnknownMemberType]
        self._bar.update(1)

    def close(self) -> None:
        """Close the bar, leaving it on screen."""
        self._bar.close()


def make_progress(stream: TextIO, total: int | None, *, enabled: bool | None) -> Progress:
    """Pick the display: ``enabled=None`` means "when ``stream`` is a terminal"."""
    if enabled is None:
        enabled = stream.isatty()
    if not enabled:
        return NoProgress()
    try:
        return TqdmProgress(stream, total)
    except ImportError:  # the optional 'cli' extra is not installed
        return PlainProgress(stream, total)
