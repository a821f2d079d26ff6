"""The outcomes dashboard: a centre's figures as charts, tables and CSV/JSON downloads.

Charts are drawn here as geometry (bars, ticks, labels) and written out by the template as
inline SVG: no chart library, no script, no style attributes (the CSP forbids them). Each chart
comes with a table of the same figures, so nothing depends on seeing the picture. The operator's
standalone report (``tessera outcomes --format html``) is drawn by the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path

from flask import Response, current_app, render_template, request
from flask.typing import ResponseReturnValue

from . import auth, outcomes
from .clock import utcnow
from .db import db
from .errors import InvalidRequestError
from .models import Organisation
from .ui import bp

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Distinct fills (Okabe-Ito); beyond these the colours repeat, the legend and table still tell.
PALETTE_SIZE = 8

# The drawing's own units; the SVG scales to the width it is given.
WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 10, 16, 60


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    css: str
    label: str  # what a pointer shows: "2026-03, Welding: 4"


@dataclass(frozen=True)
class Stack:
    month: str
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class MonthMark:
    x: float
    label: str
    year: str  # shown under January and the first month


@dataclass(frozen=True)
class LegendItem:
    label: str
    css: str
    total: int


@dataclass(frozen=True)
class Chart:
    """A bar chart (stacked when there are several series) and the table of its figures."""

    id: str
    title: str
    y_label: str
    x_label: str
    months: tuple[str, ...]
    series: tuple[outcomes.Series, ...]
    stacks: tuple[Stack, ...]  # only months with something to draw
    ticks: tuple[Tick, ...]
    marks: tuple[MonthMark, ...]
    legend: tuple[LegendItem, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(s.values[i] for s in self.series) for i in range(len(self.months)))

    @property
    def total(self) -> int:
        return sum(self.totals)


def _step(top: int) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving about four intervals."""
    if top <= 4:
        return 1
    raw = top / 4
    power = int(10 ** math.floor(math.log10(raw)))
    return next(n * power for n in (1, 2, 5, 10) if n * power >= raw)


def bar_chart(
    chart_id: str,
    title: str,
    months: Sequence[str],
    series: Sequence[outcomes.Series],
    *,
    y_label: str,
    x_label: str = "Month",
) -> Chart:
    """The geometry of a (stacked) bar chart of ``series`` over ``months``."""
    width = len(months)
    totals = [sum(s.values[i] for s in series) for i in range(width)]
    step = _step(max(totals, default=0))
    top = max(step * math.ceil(max(totals, default=0) / step), step * 2 if step == 1 else step)
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT - RIGHT) / max(width, 1)
    bar = slot * 0.7

    def y_of(value: float) -> float:
        return round(HEIGHT - BOTTOM - plot_height * value / top, 2)

    stacks = []
    for i, month in enumerate(months):
        if not totals[i]:
            continue
        x = round(LEFT + slot * i + (slot - bar) / 2, 2)
        below = 0
        segments = []
        for n, s in enumerate(series):
            value = s.values[i]
            if not value:
                continue
            y = y_of(below + value)
            segments.append(
                Segment(
                    x,
                    y,
                    round(bar, 2),
                    round(y_of(below) - y, 2),
                    f"series-{n % PALETTE_SIZE}",
                    f"{month}, {s.label}: {value}",
                )
            )
            below += value
        stacks.append(Stack(month, totals[i], tuple(segments)))
    every = math.ceil(width / 12)
    marks = tuple(
        MonthMark(
            round(LEFT + slot * i + slot / 2, 2),
            MONTH_NAMES[int(month[5:7]) - 1],
            month[:4] if i == 0 or month.endswith("-01") else "",
        )
        for i, month in enumerate(months)
        if i % every == 0
    )
    ticks = tuple(Tick(y_of(v), str(v)) for v in range(0, top + 1, step))
    legend = tuple(
        LegendItem(s.label, f"series-{n % PALETTE_SIZE}", s.total) for n, s in enumerate(series)
    )
    return Chart(
        id=chart_id,
        title=title,
        y_label=y_label,
        x_label=x_label,
        months=tuple(months),
        series=tuple(series),
        stacks=tuple(stacks),
        ticks=ticks,
        marks=marks,
        legend=legend,
    )


def charts(found: outcomes.Figures, centre: outcomes.CentreFigures, prefix: str) -> list[Chart]:
    """The four charts of one centre (or of the sum of all)."""
    months = found.months
    by = "centre" if centre.slug is None else "achievement"
    issued = centre.issued or (outcomes.Series("none", "Issued", (0,) * len(months)),)
    channels = tuple(
        outcomes.Series(s.key, CHANNEL_NAMES.get(s.key, s.key), s.values)
        for s in centre.verifications_by_channel
    ) or (outcomes.Series("none", "Verifications", (0,) * len(months)),)
    return [
        bar_chart(
            f"{prefix}-issued",
            f"Credentials issued per month, by {by}",
            months,
            issued,
            y_label="Credentials issued",
        ),
        bar_chart(
            f"{prefix}-revoked",
            "Revocations per month",
            months,
            [centre.revoked],
            y_label="Credentials revoked",
        ),
        bar_chart(
            f"{prefix}-pathways",
            "Pathway completions per month",
            months,
            [centre.pathway_completions],
            y_label="Pathways completed",
        ),
        bar_chart(
            f"{prefix}-verifications",
            "Verifications per month, by channel",
            months,
            channels,
            y_label="Verifications",
        ),
    ]


VERDICT_NAMES = {
    "valid": "Valid",
    "revoked": "Revoked",
    "expired": "Expired",
    "not yet valid": "Not yet valid",
    "invalid": "Invalid",
    "issuer not recognised": "Issuer not recognised",
    "could not check": "Could not check",
}


def by_verdict(centre: outcomes.CentreFigures) -> tuple[outcomes.Series, ...]:
    """Verifications by verdict, labelled as a person reads them."""
    return tuple(
        outcomes.Series(s.key, VERDICT_NAMES.get(s.key, s.key), s.values)
        for s in centre.verifications_by_verdict
    )


CHANNEL_NAMES = {
    "page": "Verify page (QR code or link)",
    "upload": "Upload or paste",
    "api": "API",
    "match": "Job match",
}


def _period_from_request() -> outcomes.Period:
    return outcomes.period(
        request.args.get("from") or None, request.args.get("to") or None, now=utcnow()
    )


def _this_month() -> str:
    return utcnow().strftime("%Y-%m")


def _refused(message: str) -> ResponseReturnValue:
    return (
        render_template(
            "outcomes.html",
            error=message,
            period_from=request.args.get("from", ""),
            period_to=request.args.get("to", ""),
            this_month=_this_month(),
        ),
        HTTPStatus.BAD_REQUEST,
    )


def _filename(found: outcomes.Figures, slug: str, extension: str) -> str:
    return f"outcomes-{slug}-{found.months[0]}-to-{found.months[-1]}.{extension}"


def _figures(organisation: Organisation, span: outcomes.Period) -> outcomes.Figures:
    """The centre's figures, counting this process's verifications still waiting to be
    written (see outcomes.TallyBuffer): a coordinator who just checked a credential sees it."""
    buffer = current_app.extensions.get("tessera.tally")
    if buffer is not None and buffer.waiting():
        buffer.flush(db())
    return outcomes.figures(db(), organisation=organisation, start=span.start, end=span.end)


@bp.get("/centre/outcomes")
@auth.login_required()
def outcomes_page() -> ResponseReturnValue:
    """The centre's figures for a period (the last twelve months unless asked otherwise)."""
    try:
        span = _period_from_request()
    except InvalidRequestError as e:
        return _refused(str(e))
    organisation = auth.current_org()
    found = _figures(organisation, span)
    centre = found.centres[0]
    return render_template(
        "outcomes.html",
        error=None,
        found=found,
        centre=centre,
        charts=charts(found, centre, "centre"),
        by_verdict=by_verdict,
        period_from=found.months[0],
        period_to=found.months[-1],
        this_month=_this_month(),
    )


@bp.get("/centre/outcomes.csv")
@auth.login_required()
def outcomes_csv() -> ResponseReturnValue:
    """The same figures as one tidy CSV table."""
    try:
        span = _period_from_request()
    except InvalidRequestError as e:
        return _refused(str(e))
    organisation = auth.current_org()
    found = _figures(organisation, span)
    return Response(
        outcomes.to_csv(found),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f"attachment; filename={_filename(found, organisation.slug, 'csv')}"
            )
        },
    )


@bp.get("/centre/outcomes.json")
@auth.login_required()
def outcomes_json() -> ResponseReturnValue:
    """The same figures as JSON (see ``outcomes.to_json`` for the shape)."""
    try:
        span = _period_from_request()
    except InvalidRequestError as e:
        return _refused(str(e))
    organisation = auth.current_org()
    found = _figures(organisation, span)
    document = outcomes.to_json(found, generated_at=utcnow())
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f"attachment; filename={_filename(found, organisation.slug, 'json')}"
            )
        },
    )


def render_report(found: outcomes.Figures, *, generated_at: datetime) -> str:
    """The standalone HTML report: its CSS inside, the same charts and tables, no links out."""
    css = (Path(__file__).parent / "static" / "outcomes.css").read_text(encoding="utf-8")
    sections = [(c, charts(found, c, f"c{n}")) for n, c in enumerate(found.centres)]
    total = None
    if found.whole_instance:
        total = (found.total, charts(found, found.total, "all"))
    return render_template(
        "outcomes_report.html",
        found=found,
        sections=sections,
        total=total,
        css=css,
        by_verdict=by_verdict,
        generated_at=generated_at,
    )
