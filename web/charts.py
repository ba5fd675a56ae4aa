"""Inline SVG charts drawn on the server: the geometry of monthly stacked bars (tonnes by category) and of
a monthly line (CO2e avoided), from the time series of impact.selectors. Templates draw the shapes;
nothing here computes a statistic, it only places the selectors' figures on a plane."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from . import formatting

# Tableau 10: distinct hues that stay apart for most colour-vision deficiencies.
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


@dataclass(frozen=True)
class Frame:
    """The plot area inside an SVG of `width` × `height`."""

    width: int = 760
    height: int = 280
    left: int = 56
    right: int = 12
    top: int = 18
    bottom: int = 46
    max_labels: int = 16  # month labels along the axis, at most

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.height - self.bottom

    @property
    def right_edge(self) -> float:
        return self.width - self.right


def nice_ticks(low: Decimal, high: Decimal, count: int = 4) -> list[Decimal]:
    """Round axis ticks (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering [low, high]; [0, 1] when empty."""
    low, high = min(low, Decimal(0)), max(high, Decimal(0))
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = Decimal(10) ** math.floor(math.log10(raw))
    step = next(
        m * magnitude
        for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
        if m * magnitude >= raw
    )
    first = (low / step).to_integral_value(rounding="ROUND_FLOOR") * step
    last = (high / step).to_integral_value(rounding="ROUND_CEILING") * step
    return [first + i * step for i in range(int((last - first) / step) + 1)]


def _tick_decimals(ticks: list[Decimal]) -> int:
    step = ticks[1] - ticks[0]
    return max(0, -step.normalize().as_tuple().exponent)


class _Scale:
    def __init__(self, frame: Frame, ticks: list[Decimal]):
        self.frame, self.low, self.high = frame, ticks[0], ticks[-1]

    def y(self, value: Decimal) -> float:
        share = float((self.high - value) / (self.high - self.low))
        return round(self.frame.top + share * self.frame.plot_height, 1)


def _axis(frame: Frame, ticks: list[Decimal], scale: _Scale) -> list[dict]:
    decimals = _tick_decimals(ticks)
    return [{"y": scale.y(t), "label": formatting.number(t, decimals), "zero": t == 0} for t in ticks]


def _month_labels(frame: Frame, buckets: list[date]) -> tuple[float, list[dict]]:
    band = frame.plot_width / max(len(buckets), 1)
    every = math.ceil(len(buckets) / frame.max_labels) or 1
    labels = []
    for index, bucket in enumerate(buckets):
        if index % every:
            continue
        labels.append(
            {
                "x": round(frame.left + band * (index + 0.5), 1),
                "month": date_format(bucket, "N"),
                "year": str(bucket.year) if index == 0 or bucket.month <= every else "",
            }
        )
    return band, labels


def stacked_bars(series: dict, frame: Frame = Frame()) -> dict:
    """Monthly bars of tonnes stacked by group (a stats_timeseries grouped by category). Positive values
    stack upwards from zero, negative ones (a month where reversals outweigh handovers) downwards."""
    buckets, groups = series["buckets"], series["groups"]
    tonnes = {(p["bucket"], p["group"]): p["tonnes"] for p in series["points"]}
    colours = {g["key"]: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    ups = [sum((max(tonnes.get((b, g["key"]), 0), 0) for g in groups), Decimal(0)) for b in buckets]
    downs = [sum((min(tonnes.get((b, g["key"]), 0), 0) for g in groups), Decimal(0)) for b in buckets]
    ticks = nice_ticks(min(downs, default=Decimal(0)), max(ups, default=Decimal(0)))
    scale = _Scale(frame, ticks)
    band, labels = _month_labels(frame, buckets)
    bar_width = round(min(band * 0.72, 56), 1)
    bars = []
    for index, bucket in enumerate(buckets):
        x = round(frame.left + band * index + (band - bar_width) / 2, 1)
        up = down = Decimal(0)
        for group in groups:
            value = tonnes.get((bucket, group["key"]), Decimal(0))
            if value == 0:
                continue
            start = up if value > 0 else down
            end = start + value
            if value > 0:
                up = end
            else:
                down = end
            top, bottom = sorted((scale.y(start), scale.y(end)))
            bars.append(
                {
                    "x": x,
                    "y": top,
                    "width": bar_width,
                    "height": round(max(bottom - top, 0.5), 1),
                    "colour": colours[group["key"]],
                    "group": group["key"],
                    "bucket": bucket.isoformat(),
                    "title": _("%(label)s, %(month)s: %(value)s")
                    % {
                        "label": group["label"],
                        "month": date_format(bucket, "F Y"),
                        "value": formatting.tonnes(value),
                    },
                }
            )
    return {
        "frame": frame,
        "axis": _axis(frame, ticks, scale),
        "zero_y": scale.y(Decimal(0)),
        "labels": labels,
        "bars": bars,
        "legend": [{"key": g["key"], "label": g["label"], "colour": colours[g["key"]]} for g in groups],
        "empty": not bars,
    }


def _figure(point: dict, key: str):
    """`key` of a point; a dotted key (`loans.made`) reaches into its nested figures."""
    for part in key.split("."):
        point = point[part]
    return point


def monthly_line(
    series: dict,
    value_key: str,
    *,
    scale_by: int = 0,
    unit: str = "t",
    frame: Frame = Frame(),
    whole: bool = False,
) -> dict:
    """A line (with its area) through one figure per bucket of an ungrouped stats_timeseries;
    `scale_by` shifts the decimal point (−3: kg shown as tonnes); `whole` for counts (no decimals)."""
    values = [(p["bucket"], Decimal(_figure(p, value_key)).scaleb(scale_by)) for p in series["points"]]
    ticks = nice_ticks(
        min((v for _b, v in values), default=Decimal(0)), max((v for _b, v in values), default=Decimal(0))
    )
    scale = _Scale(frame, ticks)
    band, labels = _month_labels(frame, series["buckets"])
    points = [
        {
            "x": round(frame.left + band * (index + 0.5), 1),
            "y": scale.y(value),
            "bucket": bucket.isoformat(),
            "title": _("%(month)s: %(value)s")
            % {
                "month": date_format(bucket, "F Y"),
                "value": f"{formatting.number(value, 0)}{formatting.NBSP}{unit}"
                if whole
                else formatting.tonnes(value, unit),
            },
        }
        for index, (bucket, value) in enumerate(values)
    ]
    line = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points))
    zero = scale.y(Decimal(0))
    area = f"{line} L{points[-1]['x']},{zero} L{points[0]['x']},{zero} Z" if points else ""
    return {
        "frame": frame,
        "axis": _axis(frame, ticks, scale),
        "unit": unit,
        "zero_y": zero,
        "labels": labels,
        "points": points,
        "line": line,
        "area": area,
        "empty": all(v == 0 for _b, v in values),
    }
