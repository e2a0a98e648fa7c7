"""The send job really runs on RQ: the API answers with the message queued, a worker sends it through the emulated
carrier's Messages API, and a second run of the same job (a retry, a duplicate) sends nothing more."""

from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from callcenter.redis_conn import get_redis
from callcenter.services import knowledge_base
from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.messaging import received_by

NUMBER = "+18005550100"
CUSTOMER = "+14155550123"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "JOBS_INLINE": False, "TELEPHONY_PROVIDER": "sim", "SIM_TRANSPORT": "wsgi",
            "SIM_PHONE_NUMBERS": [NUMBER], "OUTBOUND_CALLER_ID": NUMBER}


def run_queued_jobs(app) -> None:
    worker = SimpleWorker([Queue("default", connection=get_redis(app))], connection=get_redis(app))
    worker.work(burst=True)


def test_a_worker_sends_the_text_once(app, client, auth, session, factory):
    supervisor = factory.user("supervisor")
    article = knowledge_base.create_article(session, supervisor, {"title": "Router keeps rebooting",
                                                                  "solution": "Update it.", "status": "published"})
    auth.login(supervisor.username)
    sent = client.post(f"/api/v1/articles/{article.id}/send", json={"channel": "sms", "to": CUSTOMER})
    assert sent.status_code == 202 and sent.json["status"] == "queued"
    assert received_by(get_carrier(app), CUSTOMER) == []

    job_id = f"send-message-{sent.json['id']}"
    run_queued_jobs(app)
    assert [m.body for m in received_by(get_carrier(app), CUSTOMER)] == ["Router keeps rebooting\nUpdate it."]
    assert client.get(f"/api/v1/articles/{article.id}").json["usage_count"] == 1

    # The same job again, as a retry or a duplicate enqueue would run it: nothing more is sent.
    job = Job.fetch(job_id, connection=get_redis(app))
    Queue("default", connection=get_redis(app)).enqueue_job(job)
    run_queued_jobs(app)
    assert len(received_by(get_carrier(app), CUSTOMER)) == 1
