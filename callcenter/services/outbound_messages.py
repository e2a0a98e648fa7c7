"""Messages to customers after a call: a knowledge base article sent by SMS (the carrier's Messages API) or e-mail.

Asking to send (`send_article`) writes an `outbound_messages` row and defers the job `workers.messages.send_message`
with its id; the job (`deliver`) claims the row with one conditional UPDATE (queued -> sending, committed) before
talking to the carrier or the mail server, so a job run twice, or two workers at once, send it once. A worker killed
between the claim and the answer leaves the row `sending`: at most once, never twice, to a customer.

Opt-out: the do-not-call list is about calls, so texts are not refused for being on it. A number the carrier has
reported as unsubscribed (it replied STOP: Twilio's error 21610) is marked `opted_out`, and every later text to it
is refused here before reaching the carrier. E-mail has no opt-out list yet. Texts only go to the countries we may
call (DIAL_ALLOWED_COUNTRIES), since pumping texts to premium destinations is toll fraud as much as calls are.

With no SMTP server configured, an e-mail is written as an .eml file to the outbox folder (the instance folder's
`outbox/`), which any mail program opens.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.models import Call, Contact, OutboundMessage, User, utcnow
from callcenter.models.knowledge import MESSAGE_CHANNELS
from callcenter.services import audit, jobs, knowledge_base, scope
from callcenter.services.contacts import get_contact
from callcenter.services.errors import Conflict, NotFound, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164
from callcenter.telephony.base import UNSUBSCRIBED_RECIPIENT, Provider, TelephonyError

SMS_MAX = 1600  # Twilio's limit for one (concatenated) message
SEND_JOB = "workers.messages.send_message"
SEND_TIMEOUT_SECONDS = 60

# The carrier's clock may be a little behind ours when a retried send looks for a text it already made.
CARRIER_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Senders:
    """Our addresses: the number texts come from, the address e-mails come from."""

    sms_from: str
    mail_from: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings | None:
        """From SMTP_* settings; None when SMTP_HOST is not set (e-mails go to the outbox folder)."""
        if not config.get("SMTP_HOST"):
            return None
        return cls(host=config["SMTP_HOST"], port=int(config.get("SMTP_PORT") or 587),
                   user=config.get("SMTP_USER") or None, password=config.get("SMTP_PASSWORD") or None)


def _sms_text(title: str, solution: str) -> str:
    text = f"{title}\n{solution}".strip()
    return text if len(text) <= SMS_MAX else text[: SMS_MAX - 1] + "…"


def _valid_email(value: str) -> str:
    address = (value or "").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or len(address) > 254 or any(c.isspace() for c in address):
        raise ValidationFailed(t("%(value)r is not an e-mail address", value=value), field="to")
    return address


def _call(session: Session, actor: User, call_id: int | None, call_sid: str | None) -> Call | None:
    if call_id is None and not call_sid:
        return None
    condition = Call.id == call_id if call_id is not None else Call.call_sid == call_sid
    call = session.scalar(select(Call).where(condition, scope.calls(actor)))
    if call is None:
        raise NotFound(t("Call %(call)s not found", call=call_id if call_id is not None else call_sid))
    return call


def _address(session: Session, actor: User, channel: str, to: str | None, contact_id: int | None,
             call: Call | None, region: str) -> tuple[str, int | None]:
    """Where to send, and the contact it is for: `to` when given, else the contact's, else the call's caller."""
    contact = get_contact(session, actor, contact_id) if contact_id is not None else None
    if contact is None and call is not None and call.contact_id is not None:
        contact = session.get(Contact, call.contact_id)
    linked = contact.id if contact is not None else None
    if to:
        return (to_e164(to, region, field="to") if channel == "sms" else _valid_email(to)), linked
    if channel == "email":
        if contact is not None and contact.email:
            return contact.email, linked
        raise ValidationFailed(t("The contact has no e-mail address: give one"), field="to")
    if contact_id is not None and contact is not None and contact.phones:
        mobile = [p for p in contact.phones if p.label == "mobile"] or contact.phones
        return mobile[0].e164, linked
    if call is not None:
        number = call.from_number if call.direction == "inbound" else call.to_number
        if number:
            return to_e164(number, region, field="to"), linked
    raise ValidationFailed(t("Say whom to send it to: a number, a contact or a call"), field="to")


def opted_out(session: Session, channel: str, address: str) -> bool:
    """Whether the carrier told us this address refuses our messages."""
    return session.scalar(select(OutboundMessage.id).where(
        OutboundMessage.channel == channel, OutboundMessage.to_address == address,
        OutboundMessage.status == "opted_out").limit(1)) is not None


def _check_region(number: str, allowed_regions: Sequence[str] | None) -> None:
    """Texts go only to the countries we may call (DIAL_ALLOWED_COUNTRIES): SMS pumping is toll fraud too."""
    if allowed_regions is None:
        return
    region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    if region not in allowed_regions:
        raise ValidationFailed(t("We do not send texts to numbers in %(region)s", region=region or "?"), field="to")


def send_article(session: Session, actor: User, article_id: int, *, channel: str, senders: Senders,
                 to: str | None = None, contact_id: int | None = None, call_id: int | None = None,
                 call_sid: str | None = None, region: str = "US",
                 allowed_regions: Sequence[str] | None = None) -> OutboundMessage:
    """Queue a published article for a customer by SMS or e-mail; counted as a use; committed (the send job is
    enqueued on commit). `allowed_regions`: the countries texts may go to (None: any)."""
    if channel not in MESSAGE_CHANNELS:
        raise ValidationFailed(t("Channel must be sms or email"), field="channel")
    article = knowledge_base.get_article(session, actor, article_id)
    if article.status != "published":
        raise Conflict(t("Publish the article before sending it to a customer"))
    call = _call(session, actor, call_id, call_sid)
    address, linked_contact = _address(session, actor, channel, to, contact_id, call, region)
    if channel == "sms":
        _check_region(address, allowed_regions)
    if opted_out(session, channel, address):
        raise Conflict(t("%(address)s has opted out of our text messages", address=address), field="to")
    if channel == "sms":
        message = OutboundMessage(channel="sms", to_address=address, from_address=senders.sms_from,
                                  body=_sms_text(article.title, article.solution))
    else:
        message = OutboundMessage(channel="email", to_address=address, from_address=senders.mail_from,
                                  subject=article.title[:200],
                                  body="\n\n".join(p for p in (article.problem, article.solution) if p))
    message.article_id = article.id
    message.call_id = call.id if call is not None else None
    message.contact_id = linked_contact
    message.sender_id = actor.id
    message.status = "queued"
    session.add(message)
    session.flush()
    knowledge_base.record_use(session, article.id, "sent", user_id=actor.id, call_id=message.call_id)
    audit.record(session, "message.queued", actor_id=actor.id, entity=message, channel=channel,
                 article_id=article.id)
    jobs.defer(session, SEND_JOB, message.id, key=f"send-message-{message.id}", timeout=SEND_TIMEOUT_SECONDS)
    session.commit()
    return message


def get_message(session: Session, message_id: int) -> OutboundMessage:
    message = session.get(OutboundMessage, message_id)
    if message is None:
        raise NotFound(t("Message %(message_id)s not found", message_id=message_id))
    return message


# ---- the job ------------------------------------------------------------------------------------------------


class TransientSendError(Exception):
    """The carrier or mail server could not be reached: the row is queued again and the job retried."""


def _claim(session: Session, message_id: int) -> bool:
    claimed = session.execute(update(OutboundMessage)
                              .where(OutboundMessage.id == message_id, OutboundMessage.status == "queued")
                              .values(status="sending", updated_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return claimed == 1


def _finish(session: Session, message: OutboundMessage, status: str, *, sid: str | None = None,
            error: str | None = None) -> str:
    message.status = status
    message.provider_sid = sid or message.provider_sid
    message.error = error[:300] if error else None
    if status == "sent":
        message.sent_at = utcnow()
    session.commit()
    return status


def deliver(session: Session, message_id: int, provider: Provider, *, smtp: SmtpSettings | None,
            outbox: Path) -> str:
    """Send one queued message (the job's body); returns its status. A message not queued is left alone.

    A text is sent at most once: when an earlier attempt ended in doubt (the carrier may have taken it before the
    answer was lost) the retry looks it up among our recent texts to that number before sending."""
    if not _claim(session, message_id):
        return get_message(session, message_id).status
    message = get_message(session, message_id)
    session.refresh(message)
    try:
        if message.channel == "sms":
            # A retry after a lost answer (a timeout, a 5xx) first asks the carrier whether the text went out.
            info = provider.find_message(message.to_address, message.from_address, message.body,
                                         message.created_at - CARRIER_CLOCK_SKEW) if message.error else None
            info = info or provider.send_message(message.to_address, message.from_address, message.body)
            return _finish(session, message, "sent", sid=info.sid)
        sid = _send_email(message, smtp, outbox)
        return _finish(session, message, "sent", sid=sid)
    except TelephonyError as exc:
        if exc.code == UNSUBSCRIBED_RECIPIENT:
            return _finish(session, message, "opted_out", error=exc.message)
        if exc.status is not None and 400 <= exc.status < 500:
            return _finish(session, message, "failed", error=exc.message)
        _finish(session, message, "queued", error=exc.message)
        raise TransientSendError(exc.message) from exc
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            return _finish(session, message, "failed", error=f"{exc.smtp_code} {exc.smtp_error!r}")
        _finish(session, message, "queued", error=f"{exc.smtp_code} {exc.smtp_error!r}")
        raise TransientSendError(str(exc)) from exc
    except (OSError, smtplib.SMTPException) as exc:
        _finish(session, message, "queued", error=str(exc))
        raise TransientSendError(str(exc)) from exc


def email_of(message: OutboundMessage) -> EmailMessage:
    """The message as an RFC 5322 e-mail."""
    email = EmailMessage()
    email["From"] = message.from_address
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    domain = message.from_address.rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(idstring=f"cc{message.id}", domain=domain)
    email.set_content(message.body)
    return email


def _send_email(message: OutboundMessage, smtp: SmtpSettings | None, outbox: Path) -> str:
    return send_email(email_of(message), smtp, outbox, f"message-{message.id}")


def send_email(email: EmailMessage, smtp: SmtpSettings | None, outbox: Path, name: str) -> str:
    """Send through the SMTP server, or write `outbox/<name>.eml` when none is configured; the Message-ID.
    Scheduled reports mail their CSV through here too."""
    if smtp is None:
        write_eml(email, outbox, name)
        return email["Message-ID"]
    connect = smtplib.SMTP_SSL if smtp.port == 465 else smtplib.SMTP
    with connect(smtp.host, smtp.port, timeout=30) as server:
        server.ehlo()
        if connect is smtplib.SMTP and server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        server.send_message(email)
    return email["Message-ID"]


def write_eml(email: EmailMessage, outbox: Path, name: str) -> Path:
    """Write the e-mail to `outbox/<name>.eml` (whole or not at all: written aside, then renamed)."""
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox / f"{name}.eml"
    handle, temporary = tempfile.mkstemp(dir=outbox, suffix=".part")
    with os.fdopen(handle, "wb") as file:
        file.write(email.as_bytes())
    os.replace(temporary, target)
    return target
