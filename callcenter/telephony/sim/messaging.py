"""Text messages on the emulated carrier: what the product sent, kept so tests and people can read it.

Twilio's rules the product meets in production are kept: `To` must be a phone number, `From` one of the account's
numbers, a body is required (at most 1,600 characters), and a recipient who replied STOP (`unsubscribe`) refuses
every message with error 21610. A message is `queued` when created, then `delivered` (no status callbacks yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers

from callcenter.telephony.sim.conference import utcnow
from callcenter.telephony.sim.engine import Carrier, CarrierRestError, new_sid

MAX_BODY = 1600


@dataclass
class SimMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str = "queued"
    status_callback: str | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    date_sent: datetime | None = None

    @property
    def segments(self) -> int:
        """GSM-7 text fits 153 characters per segment of a long message, anything else (UCS-2) 67."""
        per = 160 if len(self.body) <= 160 else 153
        if not self.body.isascii():
            per = 70 if len(self.body) <= 70 else 67
        return max(1, -(-len(self.body) // per))


def _is_phone(number: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def send(carrier: Carrier, *, to: str, from_: str, body: str, status_callback: str | None = None) -> SimMessage:
    """Accept a message as Twilio would, or raise CarrierRestError with Twilio's code."""
    if not to:
        raise CarrierRestError(400, 21604, "A 'To' phone number is required.")
    if not _is_phone(to):
        raise CarrierRestError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_:
        raise CarrierRestError(400, 21603, "A 'From' phone number is required.")
    if from_ not in carrier.numbers:
        raise CarrierRestError(400, 21606, f"The From phone number {from_} is not a valid, SMS-capable inbound "
                                           "phone number or short code for your account.")
    if not body:
        raise CarrierRestError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise CarrierRestError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    with carrier.cond:
        if to in carrier.unsubscribed:
            raise CarrierRestError(400, 21610, "Attempt to send to unsubscribed recipient")
        message = SimMessage(sid=new_sid("SM"), account_sid=carrier.account_sid, to=to, from_=from_, body=body,
                             status_callback=status_callback)
        carrier.messages[message.sid] = message
        carrier.cond.notify_all()
    return message


def deliver(carrier: Carrier, message: SimMessage) -> None:
    """The handset got it (called once the create request has been answered with `queued`)."""
    with carrier.cond:
        message.status = "delivered"
        message.date_sent = message.date_updated = utcnow()
        carrier.cond.notify_all()


def received_by(carrier: Carrier, number: str) -> list[SimMessage]:
    """The messages sent to `number`, oldest first."""
    with carrier.cond:
        return sorted((m for m in carrier.messages.values() if m.to == number), key=lambda m: m.date_created)
