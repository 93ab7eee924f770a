"""Progress shown on stderr during a long run: tqdm when installed, else a plain line.

Counted in ``unit`` (ids for a bulk run, pages for a listing); the total may
become known only once the run is under way (``set_total``).
"""

from __future__ import annotations

import time
from typing import Protocol, TextIO


class Progress(Protocol):
    """Told about every finished id; draws nothing, a plain line, or a bar."""

    def advance(self, *, failed: bool) -> None:
        """One more unit is done."""

    def set_total(self, total: int | None) -> None:
        """The total, once known."""

    def close(self) -> None:
        """Finish the display (leave the last state on screen)."""


class NoProgress:
    """Shows nothing: stderr is not a terminal, or progress was turned off."""

    def advance(self, *, failed: bool) -> None:
        """Ignore the update."""

    def set_total(self, total: int | None) -> None:
        """Ignore the total."""

    def close(self) -> None:
        """Nothing to finish."""


class PlainProgress:
    """A single self-overwriting line, redrawn at most every ``interval`` seconds."""

    def __init__(
        self, stream: TextIO, total: int | None, *, interval: float = 0.2, unit: str = "id"
    ) -> None:
        self._stream = stream
        self._total = total
        self._unit = unit
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

    def set_total(self, total: int | None) -> None:
        """Show ``total`` (and an ETA) from now on."""
        self._total = total

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        if self._total:
            eta = (self._total - self.done) / rate if rate else 0.0
            head = f"{self.done}/{self._total} ({100 * self.done / self._total:.0f}%)"
            tail = f" ETA {eta:.0f}s"
        else:
            head, tail = f"{self.done}", ""
        line = f"\r{head}  {rate:,.0f} {self._unit}s/s{tail}  errors {self.failed}"
        self._stream.write(line.ljust(60))
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


class TqdmProgress:
    """A tqdm bar: done/total, rate, ETA, and the errors so far as a postfix."""

    def __init__(self, stream: TextIO, total: int | None, *, unit: str = "id") -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, file=stream, unit=unit, dynamic_ncols=True, smoothing=0.1)
        self._bar.set_postfix({"errors": 0})  # pyright: ignore[reportUnknownMemberType]
        self._failed = 0

    def advance(self, *, failed: bool) -> None:
        """Advance the bar; refresh the postfix only when the error count changes."""
        if failed:
            self._failed += 1
            self._bar.set_postfix({"errors": self._failed}, refresh=False)  # pyright: ignore[reportUnknownMemberType]
        self._bar.update(1)  # pyright: ignore[reportUnknownMemberType]

    def set_total(self, total: int | None) -> None:
        """Give the bar its total (and so an ETA)."""
        self._bar.total = total
        self._bar.refresh()  # pyright: ignore[reportUnknownMemberType]

    def close(self) -> None:
        """Close the bar, leaving it on screen."""
        self._bar.close()


def make_progress(
    stream: TextIO, total: int | None, *, enabled: bool | None, unit: str = "id"
) -> Progress:
    """Pick the display: ``enabled=None`` means "when ``stream`` is a terminal"."""
    if enabled is None:
        enabled = stream.isatty()
    if not enabled:
        return NoProgress()
    try:
        return TqdmProgress(stream, total, unit=unit)
    except ImportError:  # the optional 'cli' extra is not installed
        return PlainProgress(stream, total, unit=unit)
