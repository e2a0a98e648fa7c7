"""A list import queued through the API runs on RQ (a burst SimpleWorker), its progress polled while it waits; the
same job run again (a retry) adds no lead twice."""

from __future__ import annotations

import io
import json

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import func, select

from callcenter.models import CampaignContact
from callcenter.redis_conn import get_redis
from callcenter.services import auth as auth_service
from callcenter.services import campaigns
from workers.imports import run_list_import


@pytest.fixture
def app_config(app_config):
    return {**app_config, "JOBS_INLINE": False, "TELEPHONY_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": "AC" + "6" * 32, "TWILIO_AUTH_TOKEN": "x"}


def test_a_queued_import_runs_on_a_worker_once(app, client, session, factory):
    admin = factory.user("admin")
    headers = {"Authorization": f"Bearer {auth_service.issue_api_token(session, admin, 'test', actor_id=None)}"}
    session.commit()
    campaign = campaigns.create_campaign(session, admin, {"name": "Big list"}, allowed_caller_ids=[])
    rows = "\n".join(f"+1415555{n:04d}" for n in range(1200))
    answer = client.post(f"/api/v1/campaigns/{campaign.id}/imports", headers=headers,
                         content_type="multipart/form-data",
                         data={"file": (io.BytesIO(f"phone\n{rows}\n".encode()), "big.csv"),
                               "mapping": json.dumps({"phone": "phone"})})
    assert answer.status_code == 202, answer.get_json()
    import_id = answer.get_json()["id"]
    waiting = client.get(f"/api/v1/imports/{import_id}", headers=headers).get_json()
    assert (waiting["status"], waiting["processed_rows"], waiting["total_rows"]) == ("running", 0, 1200)

    r = get_redis(app)
    [job_id] = Queue("default", connection=r).job_ids
    SimpleWorker([Queue("default", connection=r)], connection=r).work(burst=True)
    assert Job.fetch(job_id, connection=r).get_status() == "finished"

    session.expire_all()
    done = client.get(f"/api/v1/imports/{import_id}", headers=headers).get_json()
    assert (done["status"], done["processed_rows"], done["imported_rows"]) == ("done", 1200, 1200)
    run_list_import(import_id)  # a retry of the same job
    count = select(func.count()).select_from(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
    assert session.scalar(count) == 1200
