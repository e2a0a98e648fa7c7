"""Call detail records, derived from an append-only event log so duplicated or reordered callbacks agree.

Carriers repeat status callbacks and deliver them out of order ('ringing' after 'completed' happens). So nothing
here updates a call "in place": every fact is appended to `call_events` once (a unique `dedupe_key` turns a repeat
into a no-op), and the call's status and phase times are recomputed from the whole set of its events. The same set
gives the same record whatever order it arrived in.

Appending is the webhook's part (one deduplicated insert, plus the call row the first time); deriving is a job
(`derive_calls`, enqueued after the append commits, keyed by the event), so a webhook never re-reads the whole log.
Until the job has run the record's derived columns lag behind its events: code on the webhook path that needs a
fact reads it from the events (`ivr_path`, `current_values`), never from the derived columns.

Concurrency: rows are inserted with ON CONFLICT DO NOTHING (SQLite and PostgreSQL), and derivation locks the call
row (FOR UPDATE on PostgreSQL; SQLite has one writer at a time) before reading its events back, so two jobs
deriving the same call never overwrite each other's result, and running a derivation twice changes nothing.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session, scoped_session

from callcenter.i18n_caller import caller_locale
from callcenter.models import Call, CallEvent, Contact, Queue
from callcenter.models.base import utcnow
from callcenter.models.calls import CALL_DIRECTIONS
from callcenter.services import jobs
from callcenter.services.errors import ValidationFailed
from callcenter.services.events import publish_after_commit
from callcenter.services.messages import t
from callcenter.services.phones import try_e164
from callcenter.services.round_trips import ending_the_transaction

TERMINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# A call only moves forward: a later-arriving earlier status never moves it back.
STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3} | dict.fromkeys(TERMINAL_STATUSES, 4)
STATUS_ALIASES = {"answered": "in-progress"}

STATUS_KIND = "status"
OPENED_KIND = "opened"
IVR_KIND = "ivr"
HOLD_KIND = "hold"
UNHOLD_KIND = "unhold"
ENQUEUED_KIND = "enqueued"
# Columns the first "enqueued" event names (the queue the IVR chose, the one contact the caller's number matched),
# filled in by derivation only while empty: an agent's link to another contact, a merge, or a transfer to another
# queue is kept. The menu webhook leaves them to derivation instead of updating the call's row itself.
FILL_IN_COLUMNS: dict[str, type[Queue] | type[Contact]] = {"queue_id": Queue, "contact_id": Contact}
# Other phases: the first event of the kind sets the column.
PHASE_COLUMNS = {
    ENQUEUED_KIND: "enqueued_at",
    "offered": "offered_at",
    "agent_answered": "agent_answered_at",
    "wrap_up_started": "wrap_up_started_at",
    "wrap_up_ended": "wrap_up_ended_at",
}
NUMBER_LENGTH = 32  # calls.from_number / to_number


@dataclass(frozen=True)
class LoggedEvent:
    """What derivation needs of a call event."""

    kind: str
    occurred_at: datetime
    data: dict[str, Any]


def normalise_status(raw: str | None) -> str:
    """Twilio's CallStatus (or a StatusCallbackEvent name) as one of STATUS_RANK, or ValidationFailed."""
    status = (raw or "").strip().lower()
    status = STATUS_ALIASES.get(status, status)
    if status not in STATUS_RANK:
        raise ValidationFailed(t('Unknown call status %(raw)r', raw=raw), field="CallStatus")
    return status


def open_call(
    session: Session,
    *,
    call_sid: str,
    direction: str,
    from_number: str,
    to_number: str,
    parent_call_sid: str | None = None,
    occurred_at: datetime | None = None,
    status: str | None = None,
) -> Call:
    """Create the record for a call the carrier told us about (idempotent on CallSid); committed.

    `status` is the CallStatus the carrier reported when the call reached us, if any (e.g. 'ringing').
    """
    call_sid = _required_sid(call_sid)
    data: dict[str, Any] = {"direction": direction, "from": from_number, "to": to_number}
    if status is not None:
        data["status"] = normalise_status(status)
    if parent_call_sid:
        data["parent_call_sid"] = parent_call_sid
    call, _ = _append(
        session,
        call_sid,
        lambda: _new_call_values(call_sid, direction, from_number, to_number),
        OPENED_KIND,
        data,
        dedupe_key=f"{OPENED_KIND}:{call_sid}",
        occurred_at=occurred_at or utcnow(),
        new_first=True,
        commit=True,
    )
    return call


def apply_status_callback(
    session: Session, params: Mapping[str, str], received_at: datetime, *, commit: bool = True
) -> Call:
    """Record one status callback (duplicates are no-ops); the call is re-derived from its events by a job.

    Uses the callback's `Timestamp` (RFC 2822) as the time of the event, else `received_at` (aware, UTC).
    A callback for a CallSid we have never seen creates the call from its From/To/Direction.
    Committed unless `commit=False` (bulk replays commit in batches; "call.updated" goes out at that commit).
    """
    call_sid = _required_sid(params.get("CallSid"))
    status = normalise_status(params.get("CallStatus"))
    occurred_at = parse_timestamp(params.get("Timestamp")) or received_at
    sequence = params.get("SequenceNumber") or params.get("Timestamp") or ""
    data = {name: params.get(name) for name in params}
    data["CallStatus"] = status
    call, _ = _append(
        session,
        call_sid,
        lambda: _new_call_values(
            call_sid, params.get("Direction") or "inbound", params.get("From") or "", params.get("To") or ""
        ),
        STATUS_KIND,
        data,
        dedupe_key=f"{STATUS_KIND}:{call_sid}:{status}:{sequence}",
        occurred_at=occurred_at,
        commit=commit,
    )
    return call


def record_event(
    session: Session,
    call: Call,
    kind: str,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> int | None:
    """Append a phase event (ivr, enqueued, offered, agent_answered, hold, unhold, wrap_up_started, ...); returns
    the new event's id, None when `dedupe_key` was already recorded. Not committed: the caller's service owns the
    transaction; the call is re-derived by a job once it commits, which then publishes "call.updated"."""
    _, added = _append(
        session, call.call_sid, None, kind, dict(data or {}), dedupe_key=dedupe_key,
        occurred_at=occurred_at or utcnow(), call=call,
    )
    return added


@dataclass(frozen=True)
class NewEvent:
    """A phase event to append with `record_events`."""

    kind: str
    data: Mapping[str, Any]
    dedupe_key: str | None = None
    occurred_at: datetime | None = None


def record_events(session: Session, call: Call | CallSoFar, events: Sequence[NewEvent], *,
                  commit: bool = False) -> int:
    """Append several phase events in one statement (a webhook that logs two facts waits for one insert, not two);
    returns how many were new (the others' `dedupe_key` was already recorded). Not committed, like
    `record_event`, unless `commit`: the insert is then the transaction's last statement and carries its COMMIT."""
    now = utcnow()
    rows = [_event_row(call.id, call.call_sid, event, now) for event in events]
    if not rows:
        return 0
    if commit and _holds_nothing(session):
        # The events are the whole transaction (the menu's): on a connection of their own they skip the session's
        # unit of work, whose checkout and commit around the one insert were 0.34 ms of the menu's server time.
        # The session's commit below still hands on what the transaction deferred (the derivation job).
        with session.get_bind().connect() as connection:
            added = len(_insert_all_ignoring_conflict(connection, CallEvent.__table__, rows, "dedupe_key",
                                                      ends_transaction=True))
            connection.commit()
    else:
        added = len(_insert_all_ignoring_conflict(_core_connection(session), CallEvent.__table__, rows,
                                                  "dedupe_key", ends_transaction=commit))
    if added:
        _derive_later(session, call.id)
    if commit:
        session.commit()
    return added


def _holds_nothing(session: Session | scoped_session[Session]) -> bool:
    """Whether the session has begun no transaction and has nothing to flush: a statement committed on its own
    then is all its transaction would have been."""
    current = session() if isinstance(session, scoped_session) else session
    return not current.in_transaction() and not (current.new or current.dirty or current.deleted)


def record_offer(session: Session, call_sid: str, agent_id: int, *, commit: bool = False) -> bool:
    """The call now names the agent it is offered to, and its "offered" phase is logged (a repeat adds nothing),
    without loading the record first, for the pop waits on them (`_assign_and_log`). False when the call is
    unknown. Not committed unless `commit` (on PostgreSQL the statement then carries the COMMIT)."""
    offered = NewEvent("offered", {"agent_id": agent_id}, dedupe_key=f"offered:{call_sid}:{agent_id}")
    return _assign_and_log(session, call_sid, agent_id, offered, commit=commit)


def record_answer(session: Session, call_sid: str, agent_id: int, agent_leg_sid: str, *, dedupe_key: str,
                  commit: bool = False) -> bool:
    """The agent answered the call: it names them, and its "agent_answered" phase is logged (a repeat adds
    nothing) without loading the record first, for the agent's softphone waits on the answer webhook
    (`_assign_and_log`). False when the call is unknown. Not committed unless `commit`."""
    answered = NewEvent("agent_answered", {"agent_id": agent_id, "agent_sid": agent_leg_sid}, dedupe_key=dedupe_key)
    return _assign_and_log(session, call_sid, agent_id, answered, commit=commit)


def _assign_and_log(session: Session, call_sid: str, agent_id: int, event: NewEvent, *, commit: bool) -> bool:
    """Set the call's agent and append `event`: on PostgreSQL one statement (the update and the insert as
    data-modifying CTEs, carrying the COMMIT when `commit`), on SQLite an UPDATE ... RETURNING and an insert."""
    row = _event_row(0, call_sid, event, utcnow())
    connection = _core_connection(session)
    if connection.dialect.name == "postgresql":
        values = {"assigned_call_sid": call_sid, "assigned_agent_id": agent_id,
                  **{f"assigned_{name}": value for name, value in row.items() if name != "call_id"}}
        call_id, added = connection.execute(_AGENT_ASSIGNED_AND_LOGGED, values,
                                            execution_options=ending_the_transaction(commit)).one()
    else:
        call_id = connection.execute(
            _ASSIGN_AGENT, {"assigned_call_sid": call_sid, "assigned_agent_id": agent_id}).scalar_one_or_none()
        added = None if call_id is None else _insert_ignoring_conflict(
            connection, CallEvent.__table__, row | {"call_id": call_id}, "dedupe_key")
    if added is not None:
        _derive_later(session, call_id)
    if commit:
        session.commit()
    return call_id is not None


def _event_row(call_id: int, call_sid: str, event: NewEvent, now: datetime) -> dict[str, Any]:
    """The `call_events` row of a new event (its time defaults to `now`, when it was recorded)."""
    if not event.kind or len(event.kind) > 40:
        raise ValidationFailed(t('An event kind is 1 to 40 characters'), field="kind")
    return {"call_id": call_id, "call_sid": call_sid, "kind": event.kind, "occurred_at": event.occurred_at or now,
            "recorded_at": now, "dedupe_key": event.dedupe_key, "data": dict(event.data)}


def get_call(session: Session, call_sid: str) -> Call | None:
    """The record for a CallSid, if we have one."""
    return session.scalar(select(Call).where(Call.call_sid == call_sid))


def call_events(session: Session, call: Call) -> list[CallEvent]:
    """A call's events in the order they happened."""
    return list(
        session.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.occurred_at,
                                                                                      CallEvent.id))
    )


@dataclass(frozen=True)
class CallSoFar:
    """What the menu webhook needs of a call, read as plain columns (no ORM object): its id, the caller's number,
    the locale they chose in the IVR (from the menu choices themselves, ahead of the derived column), and those
    choices so far."""

    id: int
    call_sid: str
    from_number: str | None
    language: str | None
    ivr_path: list[dict[str, Any]]


def call_so_far(session: Session, call_sid: str) -> CallSoFar | None:
    """A call's id, number, chosen locale and IVR path in one round trip (None: unknown CallSid); every statement
    in the menu webhook is time the caller waits."""
    rows = _core_connection(session).execute(_CALL_WITH_IVR_PATH, {"call_sid": call_sid}).all()
    if not rows:
        return None
    call_id, from_number, language, _ = rows[0]
    path = [dict(data) for *_, data in rows if data is not None]
    return CallSoFar(call_id, call_sid, from_number, chosen_locale(path) or language, path)


def chosen_locale(ivr_steps: Iterable[Mapping[str, Any]]) -> str | None:
    """The product locale of the last language the caller chose in the IVR (a step with `language`), if any."""
    chosen = None
    for step in ivr_steps:
        chosen = caller_locale(step.get("language")) or chosen
    return chosen


def ivr_path(session: Session, call: Call) -> list[dict[str, Any]]:
    """The caller's menu choices so far, read from the events (the derived column may lag behind them)."""
    rows = session.scalars(
        select(CallEvent.data).where(CallEvent.call_id == call.id, CallEvent.kind == IVR_KIND)
        .order_by(CallEvent.occurred_at, CallEvent.id)
    )
    return [dict(data or {}) for data in rows]


def current_values(session: Session, call: Call) -> dict[str, Any]:
    """What derivation concludes from the events logged so far, without writing it (for decisions taken
    before the derive job has run)."""
    return derive(_logged_events(session, call.id))


DERIVE_BATCH = 500


def derive_calls(session: Session, call_ids: Iterable[int]) -> list[Call]:
    """Re-derive calls' columns from all their events and commit ("call.updated" follows); idempotent.

    The body of the `workers.calls.derive_calls` job. Calls that no longer exist are skipped. Works in batches
    (a bulk replay touches thousands of calls in one transaction): a few statements per batch, not per call.
    """
    ids = sorted(set(call_ids))
    derived: list[Call] = []
    for start in range(0, len(ids), DERIVE_BATCH):
        batch = ids[start:start + DERIVE_BATCH]
        # Lock before reading the events, with a write: on PostgreSQL it is a row lock like FOR UPDATE; SQLite
        # ignores FOR UPDATE, but a transaction that starts by writing holds the database's write lock, so no
        # append commits between our read of the events and our write of what follows from them.
        # It also stamps when the derivation read the events: the sweep compares their recording with that time.
        started = utcnow()
        session.execute(update(Call).where(Call.id.in_(batch)).values(updated_at=started, derived_at=started))
        records = session.scalars(
            select(Call).where(Call.id.in_(batch)).order_by(Call.id).execution_options(populate_existing=True)
        ).all()
        logged: dict[int, list[LoggedEvent]] = {}
        rows = session.execute(
            select(CallEvent.call_id, CallEvent.kind, CallEvent.occurred_at, CallEvent.data)
            .where(CallEvent.call_id.in_(batch))
        )
        for call_id, kind, occurred_at, data in rows:
            logged.setdefault(call_id, []).append(LoggedEvent(kind, occurred_at, data or {}))
        derived_values = {call.id: derive(logged.get(call.id, [])) for call in records}
        _forget_missing_rows(session, records, derived_values)
        for call in records:
            _apply_derivation(session, call, derived_values[call.id], logged.get(call.id, []))
            publish_after_commit(session, "call.updated", key=f"call.updated:{call.call_sid}", call_id=call.id,
                                 call_sid=call.call_sid, status=call.status)
        session.flush()
        derived += records
    session.commit()
    return derived


# The sweep (`lagging_call_ids`): events recorded in the last quarter hour, once the usual derivation had time to run.
SWEEP_WINDOW_SECONDS = 15 * 60
SWEEP_SETTLE_SECONDS = 30
SWEEP_LIMIT = 1000


def lagging_call_ids(session: Session, now: datetime | None = None, *, window_seconds: float = SWEEP_WINDOW_SECONDS,
                     settle_seconds: float = SWEEP_SETTLE_SECONDS, limit: int = SWEEP_LIMIT) -> list[int]:
    """Calls with an event recorded after their last derivation (or never derived): their derivation was lost (a
    job that never reached Redis, or a derivation committed asynchronously that a PostgreSQL crash took back). Only
    events recorded in the last `window_seconds` and more than `settle_seconds` ago (the usual job has run by then),
    whenever they happened: a late or replayed callback's event is recorded now with the carrier's older time.

    A derivation stamps `derived_at` before it reads the events, so a derived call stops matching. Nothing else
    sets it: an offer or an answer changes the record in the statement that logs its event, and the record's
    `updated_at` said nothing about whether that event was derived."""
    now = now or utcnow()
    rows = session.scalars(
        select(CallEvent.call_id).join(Call, Call.id == CallEvent.call_id)
        .where(CallEvent.recorded_at >= now - timedelta(seconds=window_seconds),
               CallEvent.recorded_at < now - timedelta(seconds=settle_seconds),
               or_(Call.derived_at.is_(None), CallEvent.recorded_at > Call.derived_at))
        .distinct().order_by(CallEvent.call_id).limit(limit)
    )
    return list(rows)


def parse_timestamp(value: str | None) -> datetime | None:
    """Twilio's RFC 2822 `Timestamp` ("Tue, 02 Dec 2025 10:00:00 +0000") as an aware UTC datetime, else None."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def derive(events_: Iterable[LoggedEvent]) -> dict[str, Any]:
    """The call columns that follow from a set of events, independent of the order they are given in."""
    ordered = sorted(events_, key=lambda e: (e.occurred_at, e.kind, json.dumps(e.data, sort_keys=True, default=str)))
    values: dict[str, Any] = {}
    if ordered:
        values["started_at"] = ordered[0].occurred_at
    observations = [(_observed_status(e), e) for e in ordered]
    observations = [(status, e) for status, e in observations if status]
    if observations:
        values.update(_derive_status(observations))
    for kind, column in PHASE_COLUMNS.items():
        first = next((e for e in ordered if e.kind == kind), None)
        if first is not None:
            values[column] = first.occurred_at
    ivr_steps = [e.data for e in ordered if e.kind == IVR_KIND]
    if ivr_steps:
        values["ivr_path"] = ivr_steps
        if language := chosen_locale(ivr_steps):
            values["language"] = language
    enqueued = next((e for e in ordered if e.kind == ENQUEUED_KIND), None)
    if enqueued is not None:
        values.update({column: enqueued.data[column] for column in FILL_IN_COLUMNS
                       if enqueued.data.get(column) is not None})
    holds = [e for e in ordered if e.kind in (HOLD_KIND, UNHOLD_KIND)]
    if holds:
        values["hold_seconds"] = _hold_seconds(holds, values.get("ended_at"))
    for e in ordered:
        if e.data.get("RecordingSid"):
            values["recording_sid"] = e.data["RecordingSid"]
            values["recording_url"] = e.data.get("RecordingUrl")
    return values


def _observed_status(event: LoggedEvent) -> str | None:
    if event.kind == STATUS_KIND:
        return event.data.get("CallStatus")
    if event.kind == OPENED_KIND:
        return event.data.get("status")
    return None


def _derive_status(observations: list[tuple[str, LoggedEvent]]) -> dict[str, Any]:
    """Highest status wins; between two terminal statuses, the earlier one (then by name, to stay stable)."""
    values: dict[str, Any] = {}
    best_status, _ = max(observations, key=lambda o: (STATUS_RANK[o[0]], -o[1].occurred_at.timestamp(),
                                                      o[0]))
    values["status"] = best_status
    for status, column in (("ringing", "ringing_at"), ("in-progress", "answered_at")):
        times = [e.occurred_at for s, e in observations if s == status]
        if times:
            values[column] = min(times)
    terminal = [(e.occurred_at, s, e) for s, e in observations if s in TERMINAL_STATUSES]
    if terminal:
        ended_at, _, final = min(terminal, key=lambda t: (t[0], t[1]))
        values["ended_at"] = ended_at
        duration = _int(final.data.get("CallDuration"))
        if duration is None:
            durations = [d for _, _, e in terminal if (d := _int(e.data.get("CallDuration"))) is not None]
            duration = max(durations) if durations else None
        if duration is not None:
            values["duration_seconds"] = duration
    return values


def _hold_seconds(holds: list[LoggedEvent], ended_at: datetime | None) -> int:
    """Sum of hold intervals; a hold still open when the call ended counts until the end."""
    total = 0.0
    held_since: datetime | None = None
    for event in holds:
        if event.kind == HOLD_KIND and held_since is None:
            held_since = event.occurred_at
        elif event.kind == UNHOLD_KIND and held_since is not None:
            total += (event.occurred_at - held_since).total_seconds()
            held_since = None
    if held_since is not None and ended_at is not None and ended_at > held_since:
        total += (ended_at - held_since).total_seconds()
    return int(total)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _required_sid(value: str | None) -> str:
    sid = (value or "").strip()
    if not sid or len(sid) > 64:
        raise ValidationFailed(t('A CallSid is required'), field="CallSid")
    return sid


def _direction(raw: str) -> str:
    """Twilio's Direction onto ours ('outbound-api', 'outbound-dial', 'inbound'; trunking and others fold in)."""
    value = (raw or "").strip().lower()
    if value in CALL_DIRECTIONS:
        return value
    if value.startswith("outbound-dial"):
        return "outbound-dial"
    return "outbound-api" if value.startswith("outbound") else "inbound"


def _number(raw: str) -> str:
    """E.164 when it is a phone number; otherwise as the carrier sent it ('client:alice', 'Anonymous')."""
    value = (raw or "").strip()
    return (try_e164(value) if value.startswith("+") else None) or value[:NUMBER_LENGTH]


def _new_call_values(call_sid: str, direction: str, from_number: str, to_number: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "call_sid": call_sid,
        "direction": _direction(direction),
        "from_number": _number(from_number),
        "to_number": _number(to_number),
        "status": "queued",
        "ivr_path": [],
        "hold_seconds": 0,
        "notes": "",
        "created_at": now,
        "updated_at": now,
    }


def _insert_ignoring_conflict(connection: Connection, table: Table, values: dict[str, Any], unique_column: str, *,
                              ends_transaction: bool = False) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on `connection` (a session's: `_core_connection`); the new row's id, or
    None when the unique value already exists.

    Waits for a concurrent uncommitted insert of the same value instead of failing, on both backends.
    `ends_transaction`: the caller commits right after it (round_trips.ending_the_transaction).
    """
    statement = _ignoring_conflict(connection.dialect.name, table, unique_column)
    return connection.execute(
        statement, values, execution_options=ending_the_transaction(ends_transaction)).scalar_one_or_none()


def _ignoring_conflict(dialect: str, table: Table, unique_column: str) -> Any:
    """INSERT INTO `table` ... ON CONFLICT (`unique_column`) DO NOTHING RETURNING id, built once per table."""
    statement = _INSERTS.get((dialect, table.name))
    if statement is None:
        statement = _dialect_insert(dialect)(table).on_conflict_do_nothing(
            index_elements=[unique_column]).returning(table.c.id)
        _INSERTS[(dialect, table.name)] = statement
    return statement


def _insert_all_ignoring_conflict(connection: Connection, table: Table, rows: list[dict[str, Any]],
                                  unique_column: str, *, ends_transaction: bool = False) -> list[int]:
    """One INSERT ... VALUES (..), (..) ON CONFLICT DO NOTHING; the new rows' ids.

    The statement is `_insert_ignoring_conflict`'s, given the rows as executemany parameters: SQLAlchemy's
    "insertmanyvalues" sends them as one multi-row INSERT, and the statement stays compiled in its cache (rows
    written into `.values()` made a new statement, compiled again, at every webhook)."""
    if len(rows) == 1:
        added = _insert_ignoring_conflict(connection, table, rows[0], unique_column,
                                          ends_transaction=ends_transaction)
        return [] if added is None else [added]
    statement = _ignoring_conflict(connection.dialect.name, table, unique_column)
    # SQLAlchemy sends a long list in several INSERTs (pages of 1,000 rows at most): only one may carry the COMMIT.
    ends = ends_transaction and len(rows) <= ROWS_IN_ONE_INSERT
    return list(connection.execute(statement, rows, execution_options=ending_the_transaction(ends)).scalars())


ROWS_IN_ONE_INSERT = 100  # well within one page of SQLAlchemy's "insertmanyvalues", whatever the columns


def _core_connection(session: Session) -> Connection:
    """The session's connection, its pending changes flushed first: a Core statement on a table goes straight to
    it, without the ORM's execution steps (a third of an insert's time in a webhook)."""
    session.flush()
    return session.connection()


def _dialect_insert(dialect: str) -> Callable[[Table], Any]:
    """The dialect's insert(), which knows ON CONFLICT."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the product supports these two
        raise RuntimeError(f"call records need PostgreSQL or SQLite, not {dialect}")
    return insert


def _new_call_returned(dialect: str) -> Any:
    """INSERT INTO calls ... ON CONFLICT (call_sid) DO NOTHING RETURNING the row, loaded as a Call: a new call's
    record in one round trip instead of a read, an insert and a read again (on PostgreSQL each is a wait for the
    server). Nothing comes back when the call exists. Built once per dialect."""
    statement = _NEW_CALL_RETURNED.get(dialect)
    if statement is None:
        insert = _dialect_insert(dialect)(Call.__table__).on_conflict_do_nothing(index_elements=["call_sid"])
        statement = select(Call).from_statement(insert.returning(*Call.__table__.c))
        _NEW_CALL_RETURNED[dialect] = statement
    return statement


# Built once: the statements run for every callback.
_INSERTS: dict[tuple[str, str], Any] = {}
_NEW_CALL_RETURNED: dict[str, Any] = {}
_CALL_BY_SID = select(Call).where(Call.call_sid == bindparam("call_sid"))
_ASSIGN_AGENT = (
    Call.__table__.update().where(Call.__table__.c.call_sid == bindparam("assigned_call_sid"))
    .values(agent_id=bindparam("assigned_agent_id")).returning(Call.__table__.c.id)
)


def _agent_assigned_and_logged() -> Any:
    """PostgreSQL: `_ASSIGN_AGENT`'s update and an event's insert in one round trip, returning (the call's id, or
    NULL when it is unknown; the new event's id, or NULL when it was logged before)."""
    from sqlalchemy.dialects.postgresql import insert

    calls_table, events = Call.__table__, CallEvent.__table__
    # Column defaults on update are not applied inside a CTE: the row's updated_at is given, like the event's times.
    assigned = (
        calls_table.update().where(calls_table.c.call_sid == bindparam("assigned_call_sid"))
        .values(agent_id=bindparam("assigned_agent_id"), updated_at=bindparam("assigned_recorded_at"))
        .returning(calls_table.c.id).cte("assigned")
    )
    columns = ["call_sid", "kind", "occurred_at", "recorded_at", "dedupe_key", "data"]
    parameters = [bindparam(f"assigned_{name}", type_=events.c[name].type) for name in columns]
    logged = (
        insert(events)
        .from_select(["call_id", *columns], select(assigned.c.id, *parameters))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(events.c.id)
        .cte("logged")
    )
    return select(select(assigned.c.id).scalar_subquery(), select(logged.c.id).scalar_subquery())


_AGENT_ASSIGNED_AND_LOGGED = _agent_assigned_and_logged()
_CALL_WITH_IVR_PATH = (
    select(Call.id, Call.from_number, Call.language, CallEvent.data)
    .outerjoin(CallEvent, (CallEvent.call_id == Call.id) & (CallEvent.kind == IVR_KIND))
    .where(Call.call_sid == bindparam("call_sid"))
    .order_by(CallEvent.occurred_at, CallEvent.id)
)
_EVENTS_OF_CALL = select(CallEvent.kind, CallEvent.occurred_at, CallEvent.data).where(
    CallEvent.call_id == bindparam("call_id")
)


def _append(
    session: Session,
    call_sid: str,
    new_call: Callable[[], dict[str, Any]] | None,
    kind: str,
    data: dict[str, Any],
    *,
    dedupe_key: str | None,
    occurred_at: datetime,
    call: Call | None = None,
    new_first: bool = False,
    commit: bool = False,
) -> tuple[Call, int | None]:
    """Find (or create) the call and append the event; returns the call and the new event's id (None: a repeat).

    `new_first`: the call is most likely new (the carrier's first webhook of a call), so it is inserted, and read
    back, in one statement; only a repeat (a retried webhook) reads it then. A status callback, nearly always
    about a known call, reads first. Derivation is deferred to a job keyed by the event, enqueued when the caller
    commits. `commit`: the event's insert is the transaction's last statement, and carries its COMMIT.
    """
    if call is None and new_first and new_call is not None:
        call = session.scalars(_new_call_returned(session.get_bind().dialect.name), new_call()).one_or_none()
    if call is None:
        call = session.scalars(_CALL_BY_SID, {"call_sid": call_sid}).one_or_none()
    if call is None:
        if new_call is None:
            raise ValidationFailed(t('No call %(call_sid)s', call_sid=call_sid), field="call_sid")
        _insert_ignoring_conflict(_core_connection(session), Call.__table__, new_call(), "call_sid")
        call = session.scalars(_CALL_BY_SID, {"call_sid": call_sid}).one_or_none()
        assert call is not None  # inserted above, or by a concurrent request that has committed
    event_values = _event_row(call.id, call_sid, NewEvent(kind, data, dedupe_key, occurred_at), utcnow())
    event_id = _insert_ignoring_conflict(_core_connection(session), CallEvent.__table__, event_values, "dedupe_key",
                                         ends_transaction=commit)
    if event_id is not None:
        _derive_later(session, call.id)
    if commit:
        session.commit()
    return call, event_id


def _derive_later(session: Session, call_id: int) -> None:
    """One derivation job for every call, coalesced: while one waits in the queue it covers every event appended
    before it starts (it reads them all) of every call gathered for it, so a floor's callbacks are a few jobs a
    second, not a job each (every job costs the worker a couple of dozen Redis round trips). A second run changes
    nothing."""
    jobs.defer(session, "workers.calls.derive_calls", key=DERIVE_JOB_KEY, coalesce=True, gather=str(call_id),
               timeout=DERIVE_TIMEOUT_SECONDS, delay_seconds=DERIVE_DELAY_SECONDS)


DERIVE_TIMEOUT_SECONDS = 120
# A run waits this long for the events that follow (a call's callbacks come in bursts): a busy floor's records are
# derived by a run or two a second, not ten, each costing the worker its job overhead. The record, and the
# supervisors' "call.updated", lag its events by a second or two.
DERIVE_DELAY_SECONDS = 1
DERIVE_JOB_KEY = "derive-calls"  # the coalesced job that derives the calls gathered for it


def _logged_events(session: Session, call_id: int) -> list[LoggedEvent]:
    rows = session.execute(_EVENTS_OF_CALL, {"call_id": call_id})
    return [LoggedEvent(kind, occurred_at, data or {}) for kind, occurred_at, data in rows]


def _forget_missing_rows(session: Session, records: Sequence[Call], derived: dict[int, dict[str, Any]]) -> None:
    """Drop a queue or contact to fill in that no longer exists (merged or deleted since the event named it): the
    derivation's write would fail on the foreign key, and with it the derivation of every call of the batch."""
    for column, model in FILL_IN_COLUMNS.items():
        filling = [derived[call.id] for call in records
                   if getattr(call, column) is None and derived[call.id].get(column) is not None]
        if not filling:
            continue
        existing = set(session.scalars(select(model.id).where(model.id.in_({values[column] for values in filling}))))
        for values in filling:
            if values[column] not in existing:
                del values[column]


def _apply_derivation(session: Session, call: Call, derived: dict[str, Any], logged: list[LoggedEvent]) -> None:
    for column, value in derived.items():
        if column in FILL_IN_COLUMNS and getattr(call, column) is not None:
            continue
        if getattr(call, column) != value:
            setattr(call, column, value)
    if call.parent_id is None:
        parent_sid = next((e.data.get("ParentCallSid") or e.data.get("parent_call_sid") for e in logged
                           if e.data.get("ParentCallSid") or e.data.get("parent_call_sid")), None)
        if parent_sid:
            call.parent_id = session.scalar(select(Call.id).where(Call.call_sid == parent_sid))
