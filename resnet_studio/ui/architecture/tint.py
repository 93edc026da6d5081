"""The gradient tint: the per-block numbers a training run reports and the colour each is painted in.

The numbers (a gradient norm or an update/weight ratio per residual block, reported
after each epoch) are coloured on a logarithmic viridis scale between the smallest and
the largest positive one. The toolbar's "Gradient tint" switch hides them without
forgetting them.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

from .style import viridis

__all__ = ["BlockStats"]


class BlockStats:
    """One number per block name, what it is called, and whether the diagram shows it."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.label = "gradient norm"
        self.shown = True  # the toolbar's tint switch

    def set(self, stats: dict[str, float], label: str) -> None:
        """Keep the finite numbers of `stats` (block name -> number), called `label`."""
        self.values = {str(k): float(v) for k, v in stats.items() if v is not None and math.isfinite(float(v))}
        self.label = label

    def clear(self) -> None:
        self.values = {}

    def displayed(self) -> dict[str, float] | None:
        """The numbers to paint, or None while there are none or the tint is switched off."""
        return self.values if self.values and self.shown else None

    def range(self) -> tuple[float, float] | None:
        """The smallest and largest positive number: the ends of the colour scale."""
        positive = [v for v in self.values.values() if v > 0]
        return (min(positive), max(positive)) if positive else None

    def color(self, value: float) -> QColor:
        rng = self.range()
        if rng is None or value <= 0:
            return viridis(0.0)
        lo, hi = rng
        t = 0.5 if hi <= lo else (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return viridis(t)

    def shown_value(self, names: list[str]) -> float | None:
        """What a box standing for `names` shows: the geometric mean of their numbers
        (the colour scale is logarithmic), or None when it shows none."""
        stats = self.displayed()
        if stats is None:
            return None
        values = [stats[n] for n in names if n in stats]
        if not values:
            return None
        positive = [v for v in values if v > 0]
        return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else 0.0
