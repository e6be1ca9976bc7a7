"""The /progress chart: feeling intensity over time and challenge asks per week, as a PNG.

matplotlib is an optional dependency (`pip install 'rebound[charts]'`) and slow to import, so it
is imported inside `render_progress_chart` only: nothing else in Rebound pays for it, and without
it /progress still shows its numbers. Drawing uses the Agg canvas directly (no pyplot, no
display, no global figure state). Colours are the Okabe-Ito palette, which stays distinct for
the common kinds of colour blindness; every series also differs by marker or hatching, so
nothing depends on colour alone.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

# Okabe & Ito (2008), "Color Universal Design".
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
GREY = "#595959"

WIDTH_IN, HEIGHT_IN, DPI = 6.0, 7.5, 130  # 780 x 975 px: one phone screen, text still legible
FONT = 13

# matplotlib's text and font caches are not made for several threads drawing at once.
_DRAWING = threading.Lock()


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed (the optional `charts` extra)."""


def has_data(chart: Mapping[str, Any]) -> bool:
    return bool(chart.get("intensity") or chart.get("sting") or chart.get("weeks"))


def _short_date(d: date) -> str:
    return f"{d.day} {d:%b}"


def alt_text(chart: Mapping[str, Any]) -> str:
    """What the image shows, in words, for screen readers and for anyone the image fails."""
    parts = []
    points = chart.get("intensity") or []
    if points:
        first, last = points[0], points[-1]
        parts.append(
            f"Top: feeling intensity, {len(points)} rating{'s' if len(points) != 1 else ''} "
            f"from {_short_date(datetime.fromisoformat(first[0]))} "
            f"({first[1]} of 10) to {_short_date(datetime.fromisoformat(last[0]))} "
            f"({last[1]} of 10)."
        )
    sting = chart.get("sting") or []
    if sting:
        values = ", ".join(str(v) for _, v in sting[-6:])
        parts.append(f"How much a rejection stung (0 to 10), latest ratings: {values}.")
    if not points and not sting:
        parts.append("Top: no feeling ratings yet.")
    weeks = chart.get("weeks") or []
    if weeks:
        per_week = "; ".join(
            f"week of {_short_date(date.fromisoformat(w))}: {y + p + n}" for w, y, p, n in weeks
        )
        parts.append(f"Bottom: challenge asks per week. {per_week}.")
    else:
        parts.append("Bottom: no challenge asks yet.")
    return "Progress chart. " + " ".join(parts)


def render_progress_chart(chart: Mapping[str, Any]) -> bytes:
    """A PNG of the report's `chart` data (see bot.progress.build_report). Raises
    ChartsUnavailable when matplotlib is missing."""
    try:
        from matplotlib import dates as mdates
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MaxNLocator
    except ImportError as exc:
        raise ChartsUnavailable("install the charts extra: pip install 'rebound[charts]'") from exc

    with _DRAWING:
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        top, bottom = fig.subplots(2, 1, height_ratios=(3, 2))
        _intensity_panel(top, chart, mdates, FuncFormatter)
        _weeks_panel(bottom, chart, MaxNLocator)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()


def _style(ax: Any, title: str) -> None:
    ax.set_title(title, fontsize=FONT + 2, loc="left", pad=8)
    ax.tick_params(labelsize=FONT - 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=FONT, color=GREY,
            transform=ax.transAxes)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _intensity_panel(ax: Any, chart: Mapping[str, Any], mdates: Any, formatter: Any) -> None:
    _style(ax, "How strong it felt")
    ax.set_ylim(0, 10.5)
    ax.set_yticks(range(0, 11, 2))
    ax.set_ylabel("Intensity (0-10)", fontsize=FONT)
    points = chart.get("intensity") or []
    sting = chart.get("sting") or []
    if not points and not sting:
        _empty(ax, "No ratings yet")
        return
    times = [datetime.fromisoformat(t) for t, _ in [*points, *sting]]
    if max(times) - min(times) < timedelta(days=6):  # a few ratings: show them within a week
        middle = min(times) + (max(times) - min(times)) / 2
        ax.set_xlim(middle - timedelta(days=3.5), middle + timedelta(days=3.5))
    if points:
        xs = [datetime.fromisoformat(t) for t, _ in points]
        ax.plot(xs, [v for _, v in points], color=BLUE, marker="o", markersize=7, linewidth=2.5,
                label="Feeling")  # fmt: skip
    if sting:
        xs = [datetime.fromisoformat(t) for t, _ in sting]
        ax.plot(xs, [v for _, v in sting], color=ORANGE, marker="s", markersize=7, linewidth=2,
                linestyle="--", label="Sting of a rejection")  # fmt: skip
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=5))
    ax.xaxis.set_major_formatter(formatter(lambda x, _: _short_date(mdates.num2date(x).date())))
    ax.set_xlabel("Date", fontsize=FONT)
    ax.legend(fontsize=FONT - 1, frameon=False, loc="best")


def _weeks_panel(ax: Any, chart: Mapping[str, Any], max_n_locator: Any) -> None:
    _style(ax, "Challenge asks per week")
    ax.set_ylabel("Asks", fontsize=FONT)
    weeks = chart.get("weeks") or []
    if not weeks:
        _empty(ax, "No asks logged yet")
        return
    xs = range(len(weeks))
    yes = [w[1] for w in weeks]
    partial = [w[2] for w in weeks]
    no = [w[3] for w in weeks]
    ax.bar(xs, yes, color=GREEN, label="Yes", edgecolor="white")
    ax.bar(xs, partial, bottom=yes, color=ORANGE, label="Partly", hatch="//", edgecolor="white")
    ax.bar(xs, no, bottom=[y + p for y, p in zip(yes, partial, strict=True)], color=VERMILLION,
           label="No (still progress)", hatch="..", edgecolor="white")  # fmt: skip
    step = max(1, len(weeks) // 6)
    ax.set_xticks(list(xs)[::step])
    ax.set_xticklabels([_short_date(date.fromisoformat(w[0])) for w in weeks][::step])
    ax.set_xlabel("Week starting", fontsize=FONT)
    ax.yaxis.set_major_locator(max_n_locator(integer=True))
    ax.set_ylim(0, max(y + p + n for y, p, n in zip(yes, partial, no, strict=True)) * 1.35 + 0.5)
    ax.legend(fontsize=FONT - 1, frameon=False, loc="upper left", ncols=3)
