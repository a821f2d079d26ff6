"""Outcomes: what the partnership achieved, in figures a funder can put in a report.

Verifications are counted, never logged: one row per day, centre, achievement, channel and
verdict holds a number. Who verified, from where, and which credential are not kept at all.

``figures`` adds up, per month, what one centre (or every centre) issued, revoked, awarded as
pathway credentials and saw verified. The counting is done by the database (GROUP BY a month
expression), so it stays quick with millions of credentials; Python only folds the few
resulting rows together (achievement versions under one name, zero months filled in).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from credentials.db import read
from verifier import Verdict, VerificationResult
from verifier.backend import CHANNELS

from .errors import InvalidRequestError
from .models import (
    Achievement,
    IssuedCredential,
    Organisation,
    Pathway,
    PathwayAward,
    VerificationTally,
)
from .unit_of_work import transaction

log = logging.getLogger(__name__)

#: The longest period one report covers: ten years of months keeps pages and files readable.
MAX_MONTHS = 120
DEFAULT_MONTHS = 12
MEASURES = ("issued", "revoked", "pathway_completions", "verifications")
CSV_COLUMNS = ("month", "centre", "measure", "achievement", "channel", "verdict", "count")
VERDICTS = tuple(str(v) for v in Verdict)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


#: Built once: every public verification asks it.
_ISSUED_AS = (
    select(IssuedCredential.organisation_id, IssuedCredential.achievement_id)
    .join(Organisation, Organisation.id == IssuedCredential.organisation_id)
    .where(
        IssuedCredential.credential_id == bindparam("credential_id"),
        Organisation.did == bindparam("issuer"),
    )
)


def _issued(
    session: Session,
    result: VerificationResult,
    remembered: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> tuple[int, int] | None:
    """The centre and achievement this instance issued the verified credential for, if it did.

    ``remembered`` holds earlier answers that found one; a credential not found is asked
    again each time (it may be one being issued right now).
    """
    credential = result.credential
    credential_id = credential.get("id") if credential is not None else None
    if not isinstance(credential_id, str) or len(credential_id) > 100:
        return None
    issuer = credential.get("issuer") if credential is not None else None
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str):
        return None
    # A forgery can copy an id; only a credential naming our centre as its issuer counts.
    # One query, joined, for two ids (not the stored credential): this runs on every public
    # verification.
    key = (credential_id, issuer_id)
    known = None if remembered is None else remembered.get(key)  # one look-up: thread-safe
    if known is not None:
        return known
    found = read(session, _ISSUED_AS, {"credential_id": credential_id, "issuer": issuer_id}).first()
    if found is None:
        return None
    issued_as = (found.organisation_id, found.achievement_id)
    if remembered is not None:
        if len(remembered) >= MAX_REMEMBERED_CREDENTIALS:
            remembered.clear()
        remembered[key] = issued_as
    return issued_as


TallyKey = tuple[date, int, int, str, str]  # day, centre, achievement, channel, verdict

#: How many verified credentials' centre and achievement a process remembers (a few MB).
MAX_REMEMBERED_CREDENTIALS = 20_000


class TallyBuffer:
    """Verification counts added up in this process, written together every so often.

    One committed write per employer's check costs a disk flush each (SQLite) or an update of
    the same hot row by every request (PostgreSQL): it capped the verify API at a few percent
    of what the app serves. Counts wait here at most ``flush_after`` seconds (or until
    ``max_keys`` different counts are waiting), then one transaction adds them all. A process
    killed outright loses at most that many seconds of counts: they are statistics, and an
    employer's verification never waits for them. ``flush_after`` 0 writes at once.
    """

    def __init__(self, flush_after: float, *, max_keys: int = 1_000) -> None:
        self.flush_after = flush_after
        self.max_keys = max_keys
        self._counts: Counter[TallyKey] = Counter()
        self._since: float | None = None
        self._lock = threading.Lock()
        #: (credential id, issuer) -> (centre, achievement) of credentials found to be ours.
        #: An issued credential's centre and achievement never change, so every process
        #: keeps what it found, up to MAX_REMEMBERED_CREDENTIALS (then it starts again).
        self.issued_as: dict[tuple[str, str], tuple[int, int]] = {}

    def add(self, key: TallyKey, count: int = 1) -> bool:
        """Count ``key``; True when the waiting counts are due to be written."""
        with self._lock:
            self._counts[key] += count
            if self._since is None:
                self._since = time.monotonic()
            return (
                time.monotonic() - self._since >= self.flush_after
                or len(self._counts) >= self.max_keys
            )

    def waiting(self) -> bool:
        """Whether any count is waiting."""
        with self._lock:
            return bool(self._counts)

    def take(self) -> Counter[TallyKey]:
        """Every waiting count, leaving none."""
        with self._lock:
            counts, self._counts, self._since = self._counts, Counter(), None
            return counts

    def flush(self, session: Session) -> int:
        """Write the waiting counts in one transaction; returns how many keys were written."""
        counts = self.take()
        if counts and not _write(session, counts):
            with self._lock:  # put them back: the next flush tries again
                for key, count in counts.items():
                    self._counts[key] += count
                self._since = self._since or time.monotonic()
            return 0
        return len(counts)


def _write(session: Session, counts: Mapping[TallyKey, int]) -> bool:
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    try:
        with transaction(session):
            for (day, organisation_id, achievement_id, channel, verdict), count in sorted(
                counts.items()
            ):
                statement = insert(VerificationTally).values(
                    day=day,
                    organisation_id=organisation_id,
                    achievement_id=achievement_id,
                    channel=channel,
                    verdict=verdict,
                    count=count,
                )
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[
                            "day",
                            "organisation_id",
                            "achievement_id",
                            "channel",
                            "verdict",
                        ],
                        set_={"count": VerificationTally.count + statement.excluded.count},
                    )
                )
    except SQLAlchemyError as e:
        # A database that is down says so in one line (the counts wait for the next flush);
        # anything else is a bug worth its traceback.
        unavailable = isinstance(e, OperationalError | InterfaceError)
        log.warning(
            "could not write verification counts: %s",
            e.__class__.__name__,
            exc_info=not unavailable,
        )
        session.rollback()
        return False
    return True


def record_verification(
    session: Session,
    result: VerificationResult,
    channel: str,
    *,
    now: datetime,
    buffer: TallyBuffer | None = None,
) -> bool:
    """Add one to today's count for the credential's centre, achievement, channel and verdict.

    Credentials issued elsewhere are not counted. With ``buffer``, the count waits there and
    is written with others (see :class:`TallyBuffer`); without, it is written at once. A
    failure to count is logged and swallowed: an employer's verification must never fail
    because a statistic could not be written. Returns whether a count was added.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    try:
        issued_as = _issued(session, result, None if buffer is None else buffer.issued_as)
    except SQLAlchemyError:
        log.warning("could not count a verification", exc_info=True)
        session.rollback()
        return False
    if issued_as is None:
        return False
    organisation_id, achievement_id = issued_as
    key = (now.date(), organisation_id, achievement_id, channel, str(result.verdict))
    if buffer is None or buffer.flush_after <= 0:
        return _write(session, {key: 1})
    if buffer.add(key):
        buffer.flush(session)
    return True


# -- periods -------------------------------------------------------------------------------


def parse_month(text: str, what: str = "month") -> date:
    """``YYYY-MM`` as the first day of that month.

    Raises:
        InvalidRequestError: anything else, with a message saying what is expected.
    """
    found = _MONTH.match(text.strip())
    year, month = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not found or not 1 <= month <= 12 or year < 1970:
        raise InvalidRequestError(
            f"the {what} month must be written as YYYY-MM, for example 2026-03 (got {text!r})"
        )
    return date(year, month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


@dataclass(frozen=True)
class Period:
    """Whole calendar months (UTC), from ``start`` to ``end`` inclusive (first days)."""

    start: date
    end: date

    @property
    def months(self) -> tuple[date, ...]:
        count = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
        return tuple(add_months(self.start, n) for n in range(count))

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(month_label(m) for m in self.months)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(add_months(self.end, 1), datetime.min.time(), tzinfo=UTC)


def period(start: str | None, end: str | None, *, now: datetime) -> Period:
    """The period a person asked for; by default the last twelve months up to this one.

    Either end may be left out: ``end`` defaults to this month, ``start`` to eleven months
    before ``end``.

    Raises:
        InvalidRequestError: a malformed month, ``start`` after ``end``, or over ten years.
    """
    last = parse_month(end, "end") if end else date(now.year, now.month, 1)
    first = parse_month(start, "start") if start else add_months(last, 1 - DEFAULT_MONTHS)
    if first > last:
        raise InvalidRequestError(
            f"the start month ({month_label(first)}) is after the end month ({month_label(last)})"
        )
    found = Period(first, last)
    if len(found.months) > MAX_MONTHS:
        raise InvalidRequestError(f"a report covers at most {MAX_MONTHS} months; choose fewer")
    return found


# -- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line of figures: a count per month of the period, in order."""

    key: str
    label: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class Totals:
    issued: int
    revoked: int
    pathway_completions: int
    verifications: int


@dataclass(frozen=True)
class Row:
    """One cell of the tidy table the CSV export is (blank where a column does not apply)."""

    month: str
    centre: str
    measure: str
    achievement: str
    channel: str
    verdict: str
    count: int


@dataclass(frozen=True)
class CentreFigures:
    """One centre's figures, or (``slug`` None) the sum over every centre in the report.

    ``issued`` is stacked by achievement for a centre (every version of an achievement under
    its current name) and by centre for the sum.
    """

    slug: str | None
    name: str
    issued: tuple[Series, ...]
    revoked: Series
    pathway_completions: Series
    verifications_by_channel: tuple[Series, ...]
    verifications_by_verdict: tuple[Series, ...]

    @property
    def issued_per_month(self) -> tuple[int, ...]:
        return _add([s.values for s in self.issued], len(self.revoked.values))

    @property
    def verifications_per_month(self) -> tuple[int, ...]:
        return _add([s.values for s in self.verifications_by_channel], len(self.revoked.values))

    @property
    def totals(self) -> Totals:
        return Totals(
            issued=sum(s.total for s in self.issued),
            revoked=self.revoked.total,
            pathway_completions=self.pathway_completions.total,
            verifications=sum(s.total for s in self.verifications_by_channel),
        )


@dataclass(frozen=True)
class Figures:
    """What ``figures`` found: the period, each centre's figures, their sum, the tidy rows."""

    period: Period
    centres: tuple[CentreFigures, ...]
    total: CentreFigures
    rows: tuple[Row, ...]
    whole_instance: bool

    @property
    def months(self) -> tuple[str, ...]:
        return self.period.labels


def _add(rows: Sequence[Sequence[int]], width: int) -> tuple[int, ...]:
    return tuple(sum(row[i] for row in rows) for i in range(width))


def _month_of(session: Session, column: Any, *, aware: bool = True) -> ColumnElement[str]:
    """``YYYY-MM`` of a column, computed by the database (UTC for timestamps)."""
    if session.get_bind().dialect.name == "postgresql":
        value = func.timezone("UTC", column) if aware else column
        return func.to_char(value, "YYYY-MM")
    return func.strftime("%Y-%m", column)


@dataclass(frozen=True)
class _Lineage:
    key: str  # the current version's public id
    name: str  # the current version's name
    organisation_id: int


def _lineages(session: Session, organisation_ids: Iterable[int]) -> dict[int, _Lineage]:
    """Each achievement id -> its lineage: every version counts under the current one."""
    rows = session.execute(
        select(
            Achievement.id,
            Achievement.previous_version_id,
            Achievement.public_id,
            Achievement.name,
            Achievement.organisation_id,
        ).where(Achievement.organisation_id.in_(list(organisation_ids)))
    ).all()
    by_id = {row.id: row for row in rows}
    newer = {row.previous_version_id: row.id for row in rows if row.previous_version_id}
    found: dict[int, _Lineage] = {}
    for row in rows:
        current, seen = row.id, {row.id}
        while current in newer and newer[current] not in seen:  # walk to the newest version
            current = newer[current]
            seen.add(current)
        latest = by_id[current]
        found[row.id] = _Lineage(latest.public_id, latest.name, latest.organisation_id)
    return found


def _counts(session: Session, statement: Any) -> list[Any]:
    return list(session.execute(statement).all())


def figures(
    session: Session,
    *,
    organisation: Organisation | None = None,
    start: date,
    end: date,
) -> Figures:
    """Month by month, what one centre (or, with None, every centre) achieved.

    Issued credentials count in the month of ``issued_at``, revocations in the month of
    ``revoked_at``, pathway completions in the month the pathway credential was awarded (under
    the centre that defines the pathway), verifications in the month they were counted. Months
    are calendar months in UTC.
    """
    span = Period(date(start.year, start.month, 1), date(end.year, end.month, 1))
    if span.start > span.end:
        raise InvalidRequestError("the start month is after the end month")
    organisations = (
        [organisation]
        if organisation is not None
        else list(session.scalars(select(Organisation).order_by(Organisation.name)).all())
    )
    ids = [o.id for o in organisations]
    lineages = _lineages(session, ids)
    since, until = span.since, span.until

    issued_month = _month_of(session, IssuedCredential.issued_at)
    issued = _counts(
        session,
        select(
            issued_month,
            IssuedCredential.organisation_id,
            IssuedCredential.achievement_id,
            func.count(),
        )
        .where(
            IssuedCredential.organisation_id.in_(ids),
            IssuedCredential.issued_at >= since,
            IssuedCredential.issued_at < until,
        )
        .group_by(issued_month, IssuedCredential.organisation_id, IssuedCredential.achievement_id),
    )
    revoked_month = _month_of(session, IssuedCredential.revoked_at)
    revoked = _counts(
        session,
        select(
            revoked_month,
            IssuedCredential.organisation_id,
            IssuedCredential.achievement_id,
            func.count(),
        )
        .where(
            IssuedCredential.organisation_id.in_(ids),
            IssuedCredential.revoked_at >= since,
            IssuedCredential.revoked_at < until,
        )
        .group_by(revoked_month, IssuedCredential.organisation_id, IssuedCredential.achievement_id),
    )
    award_month = _month_of(session, PathwayAward.created_at)
    completed = _counts(
        session,
        select(award_month, Pathway.organisation_id, Pathway.achievement_id, func.count())
        .join(Pathway, PathwayAward.pathway_id == Pathway.id)
        .where(
            Pathway.organisation_id.in_(ids),
            PathwayAward.created_at >= since,
            PathwayAward.created_at < until,
        )
        .group_by(award_month, Pathway.organisation_id, Pathway.achievement_id),
    )
    tally_month = _month_of(session, VerificationTally.day, aware=False)
    verified = _counts(
        session,
        select(
            tally_month,
            VerificationTally.organisation_id,
            VerificationTally.achievement_id,
            VerificationTally.channel,
            VerificationTally.verdict,
            func.sum(VerificationTally.count),
        )
        .where(
            VerificationTally.organisation_id.in_(ids),
            VerificationTally.day >= span.start,
            VerificationTally.day < add_months(span.end, 1),
        )
        .group_by(
            tally_month,
            VerificationTally.organisation_id,
            VerificationTally.achievement_id,
            VerificationTally.channel,
            VerificationTally.verdict,
        ),
    )
    return _assemble(
        span,
        organisations,
        lineages,
        issued=issued,
        revoked=revoked,
        completed=completed,
        verified=verified,
        whole_instance=organisation is None,
    )


_Key = tuple[str, str, str, str]  # achievement lineage key, channel, verdict, measure


def _assemble(
    span: Period,
    organisations: Sequence[Organisation],
    lineages: Mapping[int, _Lineage],
    *,
    issued: Sequence[Any],
    revoked: Sequence[Any],
    completed: Sequence[Any],
    verified: Sequence[Any],
    whole_instance: bool,
) -> Figures:
    """Fold the grouped rows into per-centre series with every month of the period."""
    labels = span.labels
    position = {label: i for i, label in enumerate(labels)}
    width = len(labels)
    # organisation id -> measure -> (lineage key, channel, verdict) -> counts per month
    cells: dict[int, dict[str, dict[tuple[str, str, str], list[int]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0] * width))
    )
    names: dict[str, str] = {}

    def add(measure: str, month: str, org: int, achievement: int, count: int, *extra: str) -> None:
        lineage = lineages.get(achievement)
        key = lineage.key if lineage else str(achievement)
        names[key] = lineage.name if lineage else key
        channel, verdict = extra if extra else ("", "")
        if month in position:
            cells[org][measure][(key, channel, verdict)][position[month]] += int(count or 0)

    for month, org, achievement, count in issued:
        add("issued", month, org, achievement, count)
    for month, org, achievement, count in revoked:
        add("revoked", month, org, achievement, count)
    for month, org, achievement, count in completed:
        add("pathway_completions", month, org, achievement, count)
    for month, org, achievement, channel, verdict, count in verified:
        add("verifications", month, org, achievement, count, channel, verdict)

    centres = tuple(_centre(o, cells[o.id], names, width) for o in organisations)
    rows = tuple(
        row
        for organisation in organisations
        for row in _rows(organisation.slug, cells[organisation.id], names, labels)
    )
    return Figures(
        period=span,
        centres=centres,
        total=_sum(centres, width, whole_instance),
        rows=rows,
        whole_instance=whole_instance,
    )


def _ordered(keys: Iterable[str], known: Sequence[str]) -> list[str]:
    found = set(keys)
    return [k for k in known if k in found] + sorted(found - set(known))


def _by(
    cells: Mapping[tuple[str, str, str], list[int]], part: int, known: Sequence[str], width: int
) -> tuple[Series, ...]:
    grouped: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    for key, values in cells.items():
        for i, value in enumerate(values):
            grouped[key[part]][i] += value
    return tuple(
        Series(k, k, tuple(grouped[k])) for k in _ordered(grouped, known) if any(grouped[k])
    )


def _centre(
    organisation: Organisation,
    measures: Mapping[str, Mapping[tuple[str, str, str], list[int]]],
    names: Mapping[str, str],
    width: int,
) -> CentreFigures:
    issued = _by(measures.get("issued", {}), 0, (), width)
    return CentreFigures(
        slug=organisation.slug,
        name=organisation.name,
        issued=tuple(
            Series(s.key, names.get(s.key, s.key), s.values)
            for s in sorted(issued, key=lambda s: (names.get(s.key, s.key).lower(), s.key))
        ),
        revoked=Series(
            "revoked", "Revoked", _add(list(measures.get("revoked", {}).values()), width)
        ),
        pathway_completions=Series(
            "pathway_completions",
            "Pathway completions",
            _add(list(measures.get("pathway_completions", {}).values()), width),
        ),
        verifications_by_channel=_by(measures.get("verifications", {}), 1, CHANNELS, width),
        verifications_by_verdict=_by(measures.get("verifications", {}), 2, VERDICTS, width),
    )


def _merge(
    groups: Iterable[Sequence[Series]], known: Sequence[str], width: int
) -> tuple[Series, ...]:
    summed: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    for group in groups:
        for series in group:
            for i, value in enumerate(series.values):
                summed[series.key][i] += value
    return tuple(Series(k, k, tuple(summed[k])) for k in _ordered(summed, known))


def _sum(centres: Sequence[CentreFigures], width: int, whole_instance: bool) -> CentreFigures:
    """Every centre together; with one centre, that centre itself."""
    if not whole_instance and len(centres) == 1:
        return centres[0]
    return CentreFigures(
        slug=None,
        name="All centres",
        issued=tuple(
            Series(c.slug or "", c.name, c.issued_per_month) for c in centres if c.totals.issued
        ),
        revoked=Series("revoked", "Revoked", _add([c.revoked.values for c in centres], width)),
        pathway_completions=Series(
            "pathway_completions",
            "Pathway completions",
            _add([c.pathway_completions.values for c in centres], width),
        ),
        verifications_by_channel=_merge(
            (c.verifications_by_channel for c in centres), CHANNELS, width
        ),
        verifications_by_verdict=_merge(
            (c.verifications_by_verdict for c in centres), VERDICTS, width
        ),
    )


def _rows(
    slug: str,
    measures: Mapping[str, Mapping[tuple[str, str, str], list[int]]],
    names: Mapping[str, str],
    labels: Sequence[str],
) -> Iterable[Row]:
    """Tidy rows of one centre: a month a measure has nothing in gets one row of 0."""
    for measure in MEASURES:
        cells = measures.get(measure, {})
        order = sorted(cells, key=lambda k: (names.get(k[0], k[0]).lower(), k[0], k[1], k[2]))
        for i, month in enumerate(labels):
            found = [(k, cells[k][i]) for k in order if cells[k][i]]
            if not found:
                yield Row(month, slug, measure, "", "", "", 0)
            for (key, channel, verdict), count in found:
                yield Row(month, slug, measure, names.get(key, key), channel, verdict, count)


# -- exports -------------------------------------------------------------------------------


def spreadsheet_safe(value: object) -> str:
    """A cell that spreadsheet programs will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(found: Figures) -> str:
    """One tidy table: a header, then one row per month, centre, measure and breakdown.

    Summing ``count`` over any selection of rows gives that selection's figure; months with
    nothing for a measure carry one row with 0 so every month of the period is present.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in found.rows:
        writer.writerow(
            [
                spreadsheet_safe(v)
                for v in (
                    row.month,
                    row.centre,
                    row.measure,
                    row.achievement,
                    row.channel,
                    row.verdict,
                )
            ]
            + [row.count]
        )
    return buffer.getvalue()


def _series_json(series: Sequence[Series]) -> list[dict[str, Any]]:
    return [{"key": s.key, "label": s.label, "counts": list(s.values)} for s in series]


def _centre_json(centre: CentreFigures) -> dict[str, Any]:
    totals = centre.totals
    return {
        "slug": centre.slug,
        "name": centre.name,
        "totals": {
            "issued": totals.issued,
            "revoked": totals.revoked,
            "pathway_completions": totals.pathway_completions,
            "verifications": totals.verifications,
        },
        "issued": list(centre.issued_per_month),
        "issued_by": "achievement" if centre.slug is not None else "centre",
        "issued_parts": _series_json(centre.issued),
        "revoked": list(centre.revoked.values),
        "pathway_completions": list(centre.pathway_completions.values),
        "verifications": list(centre.verifications_per_month),
        "verifications_by_channel": _series_json(centre.verifications_by_channel),
        "verifications_by_verdict": _series_json(centre.verifications_by_verdict),
    }


def to_json(found: Figures, *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The figures as one JSON document (the shape is documented in the README).

    ``period.months`` names the months every ``counts``/per-month list runs over, in order.
    ``centres`` holds each centre in the report; ``total`` is their sum (for one centre, the
    same figures again), its issued credentials broken down by centre instead of achievement.
    """
    document: dict[str, Any] = {
        "period": {
            "from": month_label(found.period.start),
            "to": month_label(found.period.end),
            "months": list(found.months),
        },
        "scope": "instance" if found.whole_instance else "centre",
        "centres": [_centre_json(c) for c in found.centres],
        "total": _centre_json(found.total),
    }
    if generated_at is not None:
        document["generated_at"] = generated_at.astimezone(UTC).isoformat()
    return document
