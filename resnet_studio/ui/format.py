"""Numbers and words as the window shows them: one way each, for every tab."""

from __future__ import annotations

import datetime as _dt
import html
import math

__all__ = ["count", "millions", "percent", "fraction", "duration", "sentence", "escape", "date_text"]

escape = html.escape  # text into a rich-text label


def count(n: float) -> str:
    """11689512 -> '11.7 M', 1234 -> '1,234'."""
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    return f"{int(n):,}"


def millions(n: float) -> str:
    """A parameter count in millions: 11689512 -> '11.7 M', 853018 -> '0.85 M'."""
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e6:.2f} M"


def percent(prob: float) -> str:
    """A probability as '12.3 %' ('100 %', '<0.1 %' at the ends)."""
    pct = prob * 100
    if pct >= 99.95:
        return "100 %"
    if 0 < pct < 0.1:
        return "<0.1 %"
    return f"{pct:.1f} %"


def fraction(value) -> str:
    """An accuracy (0..1) as '91.2%', or '—' when there is none."""
    return f"{float(value):.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def duration(seconds: float | None) -> str:
    """12 -> '12 s', 252 -> '4:12', 3723 -> '1:02:03'; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def sentence(message: str) -> str:
    """An engine message (lower-case, one line) as a sentence; one that starts with a file
    name ("whole.pt was refused: ...") keeps the name as it is spelled."""
    message = str(message).strip()
    first = message.split(" ", 1)[0]
    if not first.isalpha():
        return message
    return message[:1].upper() + message[1:]


def date_text(iso: str) -> str:
    """'today 14:05', 'yesterday 09:12', or the date and time."""
    try:
        when = _dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or ""
    today = _dt.date.today()
    if when.date() == today:
        return f"today {when:%H:%M}"
    if when.date() == today - _dt.timedelta(days=1):
        return f"yesterday {when:%H:%M}"
    return f"{when:%Y-%m-%d %H:%M}"
