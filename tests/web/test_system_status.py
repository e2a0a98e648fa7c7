"""The system status page: parts up or down, queue depths, failed jobs retried or discarded, admins only."""

from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from callcenter.redis_conn import get_redis


def _failed_job(app, name: str) -> str:
    """A job that fails for good in the default queue (no retries), through a real worker."""
    r = get_redis(app)
    queue = Queue("default", connection=r)
    job = queue.enqueue("tests.workers.jobs_for_tests.always_fails", 0, description=name)
    SimpleWorker([queue], connection=r).work(burst=True)
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    return job.id


def test_an_admin_sees_every_part_and_retries_or_discards_a_failed_job(app, client, auth, factory):
    factory.user(role="admin", username="ada")
    first, second = _failed_job(app, "first"), _failed_job(app, "second")
    Queue("callbacks", connection=get_redis(app)).enqueue("tests.workers.jobs_for_tests.always_fails", 0)
    auth.login("ada")

    page = client.get("/admin/status")
    text = page.get_data(as_text=True)
    assert page.status_code == 503  # no RQ worker is alive in this test: the page says so, as /healthz does
    assert 'data-check="database" data-ok="yes"' in text and 'data-check="redis" data-ok="yes"' in text
    assert 'data-check="worker" data-ok="no"' in text
    assert f'data-job="{first}"' in text and f'data-job="{second}"' in text
    assert 'id="provider">the built-in emulator' in text
    assert 'id="migration">' in text and "code expects" not in text

    retried = client.post(f"/admin/status/queues/default/failed/{first}/retry")
    assert retried.status_code == 302
    registry = FailedJobRegistry(queue=Queue("default", connection=get_redis(app)))
    assert registry.get_job_ids() == [second]
    assert first in Queue("default", connection=get_redis(app)).job_ids
    assert client.post(f"/admin/status/queues/default/failed/{second}/discard").status_code == 302
    assert registry.get_job_ids() == []
    assert client.post(f"/admin/status/queues/default/failed/{second}/discard").status_code == 404
    assert client.post(f"/admin/status/queues/nowhere/failed/{second}/retry").status_code == 404


def test_supervisors_and_agents_are_refused(client, auth, factory):
    factory.user(role="supervisor", username="sam")
    auth.login("sam")
    assert client.get("/admin/status").status_code == 403
    assert client.post("/admin/status/queues/default/failed/x/retry").status_code == 403
