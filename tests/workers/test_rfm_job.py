"""The RFM job: the ticker enqueues it once an hour whatever the number of passes, and the job stores a segment
per contact (running it twice changes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

from rq import Queue
from sqlalchemy import select

from callcenter.models import ContactRfm
from callcenter.redis_conn import get_redis
from workers import ticker
from workers.rfm import compute_rfm


def test_the_ticker_enqueues_the_rfm_pass_once_an_hour(app):
    app.config["JOBS_INLINE"] = False
    r = get_redis(app)
    maintenance = Queue("maintenance", connection=r)
    hour = 480_000 * 3600.0
    ticker.tick(app, hour + 1)
    ticker.tick(app, hour + 1800)
    ticker.tick(app, hour + 3601)
    jobs = [job_id for job_id in maintenance.job_ids if job_id.startswith("rfm-")]
    assert jobs == ["rfm-480000", "rfm-480001"]
    assert maintenance.fetch_job(jobs[0]).func_name == "workers.rfm.compute_rfm"


def test_the_job_stores_a_segment_per_contact(app, session, factory):
    recent = factory.contact(phones=("+14155550142",))
    factory.call(contact_id=recent.id, from_number="+14155550142",
                 started_at=datetime(2026, 5, 30, tzinfo=UTC))
    quiet = factory.contact()
    when = "2026-06-01T00:00:00+00:00"
    assert compute_rfm(when)["new"] == 1
    assert compute_rfm(when) == {"champions": 0, "loyal": 0, "new": 1, "at_risk": 0, "hibernating": 1,
                                 "potential": 0}
    session.expire_all()
    rows = {row.contact_id: row.segment for row in session.scalars(select(ContactRfm))}
    assert rows == {recent.id: "new", quiet.id: "hibernating"}
