"""Argument checks shared by the constructors and calls: one rule and one message each.

``not value > 0`` rather than ``value <= 0``: it refuses NaN too.
"""

from __future__ import annotations


def positive_int(name: str, value: int) -> int:
    """``value`` if it is an ``int`` of at least 1 (a ``bool`` is not); else ``ValueError``.

    Examples:
        >>> positive_int("concurrency", 0)
        Traceback (most recent call last):
        ...
        ValueError: concurrency must be a positive int, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def positive(name: str, value: float, unit: str = "seconds") -> float:
    """``value`` if it is > 0; else ``ValueError`` naming ``name`` and ``unit``.

    Examples:
        >>> positive("timeout", float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: timeout must be > 0 seconds, got nan
    """
    if not value > 0:
        raise ValueError(f"{name} must be > 0 {unit}, got {value!r}")
    return value


def non_negative(name: str, value: float, unit: str = "seconds") -> float:
    """``value`` if it is >= 0; else ``ValueError`` naming ``name`` and ``unit``."""
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 {unit}, got {value!r}")
    return value
