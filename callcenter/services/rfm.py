"""Customer analysis (RFM): each contact scored 1 to 5 on recency, frequency and value, and given a named segment.

Recency is the time since the contact's last interaction, frequency the number of interactions in the last
365 days, value the `value` of the contact's account. An interaction is a call (linked to the contact, or from /
to one of its numbers while linked to nobody: the timeline's rule), a ticket, or a message sent to them.

Scores use fixed thresholds, not quantiles: a contact's segment then means the same thing on a floor with 50
contacts as on one with 500,000, does not move when other contacts change, and a supervisor can check it by hand.
The thresholds and the segment rule are written down in docs/rfm.md; the tests compute a fixture by hand.

The job (workers/rfm.py) rewrites one `contact_rfm` row per contact; the pop, routing priority and campaign lists
read those rows, so none of them pays for the computation on its own path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.models import Account, Call, Contact, ContactPhone, ContactRfm, OutboundMessage, Ticket, utcnow
from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import t

FREQUENCY_WINDOW = timedelta(days=365)
# Recency: at most this many days since the last interaction gives the score (else 1; never: 1).
RECENCY_DAYS = ((7, 5), (30, 4), (90, 3), (180, 2))
# Frequency: at least this many interactions in the window gives the score (else 1).
FREQUENCY_COUNTS = ((20, 5), (10, 4), (5, 3), (2, 2))
# Value: at least this account value gives the score; an account worth more than 0 scores at least 2.
VALUE_AMOUNTS = ((Decimal(100_000), 5), (Decimal(25_000), 4), (Decimal(5_000), 3), (Decimal("0.01"), 2))

# The segments, in the order their rules are tried (the first that holds wins; "potential" is the rest).
SEGMENTS = ("champions", "loyal", "new", "at_risk", "hibernating", "potential")
SEGMENT_LABELS = {
    "champions": t("Champions"),
    "loyal": t("Loyal"),
    "new": t("New customers"),
    "at_risk": t("At risk"),
    "hibernating": t("Hibernating"),
    "potential": t("Potential"),
}
BATCH = 500


@dataclass(frozen=True)
class Scores:
    recency: int
    frequency: int
    value: int

    @property
    def segment(self) -> str:
        return segment_for(self.recency, self.frequency, self.value)


def recency_score(last: datetime | None, now: datetime) -> int:
    """5 within a week, 4 within 30 days, 3 within 90, 2 within 180, else (or never) 1."""
    if last is None:
        return 1
    days = (now - last).total_seconds() / 86400
    return next((score for limit, score in RECENCY_DAYS if days <= limit), 1)


def frequency_score(count: int) -> int:
    """5 from 20 interactions in the window, 4 from 10, 3 from 5, 2 from 2, else 1."""
    return next((score for least, score in FREQUENCY_COUNTS if count >= least), 1)


def value_score(value: Decimal | None) -> int:
    """5 from 100,000, 4 from 25,000, 3 from 5,000, 2 above 0; no account or no value: 1."""
    if value is None:
        return 1
    return next((score for least, score in VALUE_AMOUNTS if value >= least), 1)


def segment_for(recency: int, frequency: int, value: int) -> str:
    """The named segment of three scores: the first rule that holds (docs/rfm.md)."""
    if recency >= 4 and frequency >= 4 and value >= 4:
        return "champions"
    if recency >= 3 and frequency >= 4:
        return "loyal"
    if recency >= 4 and frequency == 1:
        return "new"
    if recency <= 2 and frequency >= 3:
        return "at_risk"
    if recency <= 2 and frequency <= 2:
        return "hibernating"
    return "potential"


def check_segment(segment: str, field: str = "segment") -> str:
    """A known segment name, else a 422 naming the ones there are."""
    if segment not in SEGMENTS:
        raise ValidationFailed(t("Unknown segment %(segment)r; one of: %(known)s", segment=segment,
                                 known=", ".join(SEGMENTS)), field=field)
    return segment


@dataclass
class _Tally:
    last: datetime | None = None
    count: int = 0

    def add(self, last: datetime | None, count: int) -> None:
        if last is not None and (self.last is None or last > self.last):
            self.last = last
        self.count += int(count or 0)


def _interactions(session: Session, since: datetime, now: datetime) -> dict[int, _Tally]:
    """Per contact: the last interaction up to `now` and the number since `since` (a few grouped queries)."""
    tallies: dict[int, _Tally] = {}
    call_at = func.coalesce(Call.started_at, Call.created_at)

    def grouped(key, at, *where) -> Iterable[tuple[int, datetime | None, int]]:
        return session.execute(
            select(key, func.max(at), func.sum(case((at >= since, 1), else_=0)))
            .where(at <= now, *where).group_by(key))

    top_level = Call.parent_id.is_(None)
    sources = [
        grouped(Call.contact_id, call_at, Call.contact_id.is_not(None), top_level),
        # Calls nobody linked count for every contact with the number, as the timeline shows them.
        session.execute(
            select(ContactPhone.contact_id, func.max(call_at), func.sum(case((call_at >= since, 1), else_=0)))
            .join(ContactPhone, or_(and_(Call.direction == "inbound", Call.from_number == ContactPhone.e164),
                                    and_(Call.direction != "inbound", Call.to_number == ContactPhone.e164)))
            .where(Call.contact_id.is_(None), top_level, call_at <= now).group_by(ContactPhone.contact_id)),
        grouped(Ticket.contact_id, Ticket.created_at, Ticket.contact_id.is_not(None)),
        grouped(OutboundMessage.contact_id, OutboundMessage.created_at, OutboundMessage.contact_id.is_not(None)),
    ]
    for rows in sources:
        for contact_id, last, count in rows:
            tallies.setdefault(contact_id, _Tally()).add(last, count)
    return tallies


def compute_all(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Score every contact and store the scores and segment (one row each); committed. Returns the count per
    segment. Idempotent: a second run at the same `now` writes the same rows, and a run that meets another one
    (the hourly job beside a run by hand) updates the rows the other inserted first."""
    now = now or utcnow()
    tallies = _interactions(session, now - FREQUENCY_WINDOW, now)
    counts = dict.fromkeys(SEGMENTS, 0)
    last_id = 0
    while True:
        batch = session.execute(
            select(Contact.id, Account.value).outerjoin(Account, Contact.account_id == Account.id)
            .where(Contact.id > last_id).order_by(Contact.id).limit(BATCH)).all()
        if not batch:
            break
        try:
            segments = _store_scores(session, batch, tallies, now)
        except IntegrityError:  # another run inserted some of these rows since we read them: now they exist
            session.rollback()
            segments = _store_scores(session, batch, tallies, now)
        for segment in segments:
            counts[segment] += 1
        last_id = batch[-1][0]
    return counts


def _store_scores(session: Session, batch: Sequence[Any], tallies: dict[int, _Tally], now: datetime) -> list[str]:
    """Write one batch of contacts' scores (committed); returns their segments."""
    stored = {row.contact_id: row for row in session.scalars(
        select(ContactRfm).where(ContactRfm.contact_id.in_([contact_id for contact_id, _ in batch])))}
    segments = []
    for contact_id, value in batch:
        tally = tallies.get(contact_id) or _Tally()
        scores = Scores(recency_score(tally.last, now), frequency_score(tally.count), value_score(value))
        row = stored.get(contact_id)
        if row is None:
            row = ContactRfm(contact_id=contact_id)
            session.add(row)
        row.recency_score, row.frequency_score, row.value_score = scores.recency, scores.frequency, scores.value
        row.segment = scores.segment
        row.last_interaction_at = tally.last
        row.interactions = tally.count
        row.computed_at = now
        segments.append(scores.segment)
    session.commit()
    return segments


def segments_of(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    """The stored segment of each of these contacts that has one (none before the first pass of the job)."""
    if not contact_ids:
        return {}
    return dict(session.execute(
        select(ContactRfm.contact_id, ContactRfm.segment).where(ContactRfm.contact_id.in_(list(contact_ids)))).all())


def cards_of(session: Session, contact_ids: Sequence[int]) -> dict[int, dict[str, object]]:
    """The scores and segment the pop shows, per contact that has them (none before the job's first pass):
    {segment, recency, frequency, value}, in one query."""
    if not contact_ids:
        return {}
    return {row.contact_id: {"segment": row.segment, "recency": row.recency_score,
                             "frequency": row.frequency_score, "value": row.value_score}
            for row in session.scalars(select(ContactRfm).where(ContactRfm.contact_id.in_(list(contact_ids))))}


def contact_ids_in(session: Session, segment: str) -> list[int]:
    """Every contact of a segment, oldest first (campaign lists build from it)."""
    check_segment(segment)
    return list(session.scalars(
        select(ContactRfm.contact_id).where(ContactRfm.segment == segment).order_by(ContactRfm.contact_id)))


def segment_counts(session: Session) -> dict[str, int]:
    """How many contacts each segment holds (every segment named, zero included)."""
    counts = dict.fromkeys(SEGMENTS, 0)
    for segment, count in session.execute(
            select(ContactRfm.segment, func.count()).group_by(ContactRfm.segment)):
        counts[segment] = count
    return counts
