"""Sending an article to a customer: the send job sends a message at most once whatever runs it, a carrier out of
reach queues it again, an unsubscribed number is remembered, and e-mail goes to the outbox without SMTP."""

from __future__ import annotations

import email
from email import policy

import pytest

from callcenter.models import OutboundMessage
from callcenter.services import knowledge_base, outbound_messages
from callcenter.services.errors import Conflict
from callcenter.services.outbound_messages import Senders, TransientSendError
from callcenter.telephony import get_provider
from callcenter.telephony.base import UNSUBSCRIBED_RECIPIENT, MessageInfo, TelephonyError
from callcenter.telephony.sim.testing import sim_carrier

__all__ = ["sim_carrier"]

SENDERS = Senders(sms_from="+18005550100", mail_from="help@example.com")
CUSTOMER = "+14155550123"


class Carrier:
    """A provider that records texts; `failures` are raised, one per send, before any succeeds."""

    def __init__(self, *failures: TelephonyError) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.failures = list(failures)

    def send_message(self, to, from_, body, status_callback=None):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((to, from_, body))
        return MessageInfo(sid=f"SM{len(self.sent):032x}", status="queued", to=to, from_=from_, body=body)

    def find_message(self, to, from_, body, created_after):
        found = [i for i, sent in enumerate(self.sent, 1) if sent == (to, from_, body)]
        return MessageInfo(sid=f"SM{found[-1]:032x}", status="sent", to=to, from_=from_, body=body) if found else None


class AnswerLost:
    """The real provider, except that the answer to its first send is lost after the carrier took the text (a read
    timeout): what a retry must not turn into a second text."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self.lost = 1

    def send_message(self, to, from_, body, status_callback=None):
        info = self.provider.send_message(to, from_, body, status_callback)
        if self.lost:
            self.lost -= 1
            raise TelephonyError("Texting failed: read timed out")
        return info

    def find_message(self, to, from_, body, created_after):
        return self.provider.find_message(to, from_, body, created_after)


@pytest.fixture
def app_config(app_config):
    app_config["JOBS_INLINE"] = False  # the tests run the job themselves
    app_config["SIM_TRANSPORT"] = "wsgi"  # the emulator's REST API in-process
    return app_config


@pytest.fixture
def agent(factory):
    return factory.user("agent")


@pytest.fixture
def article(session, factory):
    return knowledge_base.create_article(session, factory.user("admin"), {
        "title": "Router keeps rebooting", "problem": "It restarts.", "solution": "Update the firmware.",
        "status": "published"})


def queue_sms(session, agent, article, to=CUSTOMER) -> OutboundMessage:
    return outbound_messages.send_article(session, agent, article.id, channel="sms", to=to, senders=SENDERS)


def test_the_send_job_sends_once_however_often_it_runs(session, agent, article, tmp_path):
    message = queue_sms(session, agent, article)
    assert message.status == "queued" and message.body == "Router keeps rebooting\nUpdate the firmware."
    carrier = Carrier()
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "sent"
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "sent"
    assert carrier.sent == [(CUSTOMER, "+18005550100", "Router keeps rebooting\nUpdate the firmware.")]
    session.refresh(message)
    assert message.provider_sid == f"SM{1:032x}" and message.sent_at is not None


def test_a_row_another_worker_claimed_is_left_alone(session, agent, article, tmp_path):
    message = queue_sms(session, agent, article)
    message.status = "sending"  # a worker claimed it and died before the carrier answered
    session.commit()
    carrier = Carrier()
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "sending"
    assert carrier.sent == []


def test_a_carrier_out_of_reach_queues_the_message_again_for_the_retry(session, agent, article, tmp_path):
    message = queue_sms(session, agent, article)
    carrier = Carrier(TelephonyError("Texting failed: connection refused"))
    with pytest.raises(TransientSendError):
        outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path)
    session.refresh(message)
    assert message.status == "queued" and "connection refused" in message.error
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "sent"
    assert len(carrier.sent) == 1


def test_a_text_the_carrier_took_before_the_answer_was_lost_is_not_sent_again(app, session, agent, article,
                                                                              tmp_path, sim_carrier):
    message = queue_sms(session, agent, article)
    carrier = AnswerLost(get_provider(app))
    with pytest.raises(TransientSendError):
        outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path)
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "sent"

    with sim_carrier.cond:
        texts = [m for m in sim_carrier.messages.values() if m.to == CUSTOMER]
    assert [m.body for m in texts] == ["Router keeps rebooting\nUpdate the firmware."]
    session.refresh(message)
    assert message.provider_sid == texts[0].sid and message.error is None


def test_a_refused_message_fails_without_retry(session, agent, article, tmp_path):
    message = queue_sms(session, agent, article)
    carrier = Carrier(TelephonyError("Texting failed: invalid To", status=400, code=21211))
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "failed"
    assert carrier.sent == []


def test_an_unsubscribed_number_is_remembered_and_refused_next_time(session, agent, article, tmp_path):
    message = queue_sms(session, agent, article)
    carrier = Carrier(TelephonyError("unsubscribed", status=400, code=UNSUBSCRIBED_RECIPIENT))
    assert outbound_messages.deliver(session, message.id, carrier, smtp=None, outbox=tmp_path) == "opted_out"
    with pytest.raises(Conflict):
        queue_sms(session, agent, article, to="(415) 555-0123")  # the same number, typed another way
    assert outbound_messages.opted_out(session, "sms", CUSTOMER)
    # E-mail to the same person is not affected, nor are texts to other numbers.
    queue_sms(session, agent, article, to="+14155550124")


def test_email_without_smtp_is_an_eml_file_in_the_outbox(session, agent, article, tmp_path):
    message = outbound_messages.send_article(session, agent, article.id, channel="email", to="dana@example.com",
                                             senders=SENDERS)
    assert outbound_messages.deliver(session, message.id, Carrier(), smtp=None, outbox=tmp_path / "outbox") == "sent"
    eml = tmp_path / "outbox" / f"message-{message.id}.eml"
    mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert (mail["From"], mail["To"], mail["Subject"]) == ("help@example.com", "dana@example.com",
                                                           "Router keeps rebooting")
    assert mail.get_content().strip() == "It restarts.\n\nUpdate the firmware."
    assert list((tmp_path / "outbox").iterdir()) == [eml]  # no partial files left beside it


def test_sending_counts_a_use_and_defers_one_job_keyed_by_the_row(session, agent, article, monkeypatch):
    from callcenter.services import jobs

    deferred = []
    monkeypatch.setattr(jobs, "defer", lambda session, name, *args, **kw: deferred.append((name, args, kw["key"])))
    message = queue_sms(session, agent, article)
    assert deferred == [("workers.messages.send_message", (message.id,), f"send-message-{message.id}")]
    assert knowledge_base.uses(session, article.id) == {"viewed": 0, "sent": 1}


def test_long_articles_are_cut_to_one_sms_limit(session, agent, factory):
    long = knowledge_base.create_article(session, factory.user("admin"), {
        "title": "Long", "solution": "x" * 3000, "status": "published"})
    message = queue_sms(session, agent, long)
    assert len(message.body) == outbound_messages.SMS_MAX and message.body.endswith("…")
