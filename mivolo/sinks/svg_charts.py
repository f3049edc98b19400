"""Static charts as inline SVG for the HTML report: step lines over time and stacked bars of
counts. Written by hand rather than with matplotlib, whose import and rendering cost seconds at
the end of every run that asks for a report."""

from __future__ import annotations

import html
import math
from typing import Dict, List, Sequence, Tuple

WIDTH, HEIGHT = 640, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 110, 10, 34  # margins: the y axis' labels, the legend, the x axis' labels
PALETTE = ("#4878cf", "#d65f5f", "#6acc65", "#b47cc7", "#c4ad66", "#77bedb", "#999999")


def _count_ticks(highest: int) -> List[int]:
    """Whole-number ticks from 0 to at least `highest`, at most 6 of them."""
    step = max(1, math.ceil(max(highest, 1) / 5))
    return list(range(0, max(highest, 1) + step, step))


def _frame(y_ticks: List[int], y_label: str, x_ticks: Sequence[Tuple[float, str]]) -> List[str]:
    """The axes, their ticks and labels; x ticks are (position 0..1, label)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>']
    for tick in y_ticks:
        y = TOP + plot_h * (1 - tick / y_ticks[-1])
        parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#444"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for position, text in x_ticks:
        x = LEFT + plot_w * position
        parts.append(f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 4}" stroke="#444"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{html.escape(text)}</text>')
    parts.append(
        f'<text transform="translate(12 {TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">{html.escape(y_label)}</text>'
    )
    return parts


def _legend(names: Sequence[str], colours: Sequence[str]) -> List[str]:
    parts = []
    for index, (name, colour) in enumerate(zip(names, colours)):
        y = TOP + 12 + 16 * index
        parts.append(f'<rect x="{WIDTH - RIGHT + 10}" y="{y - 9}" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 28}" y="{y}">{html.escape(name)}</text>')
    return parts


def _svg(title: str, parts: List[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
        f"<title>{html.escape(title)}</title>{''.join(parts)}</svg>"
    )


def step_chart(title: str, series: Dict[str, Tuple[List[float], List[int]]], colours: Sequence[str], y_label: str) -> str:
    """Counts over time, one step line per series ((times in s, counts))."""
    times = [t for xs, _ in series.values() for t in xs]
    end = max(times, default=0.0) + 1.0  # each count holds for its second
    ticks = _count_ticks(max((c for _, ys in series.values() for c in ys), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    digits = 1 if end < 10 else 0  # distinct tick labels on a short video
    x_ticks = [(i / 4, f"{end * i / 4:.{digits}f} s") for i in range(5)]
    parts = _frame(ticks, y_label, x_ticks)
    for (name, (xs, ys)), colour in zip(series.items(), colours):
        points = []
        for index, (x, y) in enumerate(zip(xs, ys)):
            following = xs[index + 1] if index + 1 < len(xs) else end
            top = TOP + plot_h * (1 - y / ticks[-1])
            points += [(LEFT + plot_w * x / end, top), (LEFT + plot_w * following / end, top)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"><title>{html.escape(name)}</title></polyline>')
    return _svg(title, parts + _legend(list(series), colours))


def stacked_bars(title: str, categories: Sequence[str], stacks: Dict[str, List[int]], colours: Sequence[str], y_label: str) -> str:
    """One bar per category, stacked by series."""
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(categories))]
    ticks = _count_ticks(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    parts = _frame(ticks, y_label, [((i + 0.5) / len(categories), name) for i, name in enumerate(categories)])
    for index in range(len(categories)):
        bottom = 0
        for (name, values), colour in zip(stacks.items(), colours):
            if values[index]:
                y = TOP + plot_h * (1 - (bottom + values[index]) / ticks[-1])
                height = plot_h * values[index] / ticks[-1]
                parts.append(
                    f'<rect x="{LEFT + slot * index + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{height:.1f}" fill="{colour}"><title>{html.escape(name)}: {values[index]}</title></rect>'
                )
                bottom += values[index]
    return _svg(title, parts + _legend(list(stacks), colours))
