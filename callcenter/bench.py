"""`callcenter bench inbound`: many emulated callers and connected agent consoles, measured.

Default mode: the product runs as production does, in its own processes (`python -m callcenter web`, gunicorn's
threaded worker, and `python -m callcenter worker` for the housekeeping ticker) on a fresh instance: a temporary
SQLite file unless DATABASE_URL is set, and an embedded Redis the bench starts unless REDIS_URL is set. The harness
runs in this process: the carrier emulator (its Twilio REST API served on another loopback port and given to the
product as SIM_REST_URL; webhooks sent to the product over real HTTP), one python-socketio client per agent
(logged in through /login, websocket transport) and the callers. So the figures are the product's, measured from
outside over loopback, and the harness's hundreds of threads do not compete with the app for its GIL.

`--in-process` keeps the old shape: app, emulator (webhooks delivered in-process) and Flask-SocketIO test clients
in one process; there the harness's threads dominate the latencies.

Each agent acknowledges its pops, answers its softphone, talks, and is available again after a short wrap-up;
each caller dials, picks Sales in the IVR, waits, talks, and hangs up. Printed: IVR webhook latency p50/p99,
screen-pop latency p50/p99 (the webhook that put the caller in the queue -> the agent's socket holds the pop;
for a caller who had to wait for a free agent, from the reservation instead), calls completed, errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue as queues
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

NUMBER = "+18005550100"
PASSWORD = "bench-password"
RESERVATION_SECONDS = 30  # the Sales queue's reservation timeout: an offer's expires_at minus this is its start
SIM_ACCOUNT_SID = "AC" + "0" * 31 + "1"
SIM_AUTH_TOKEN = "b" * 32
# An offer made less than this after the enqueue webhook was sent was made during it (the caller found an agent).
DURING_WEBHOOK_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 15


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ms(values: list[float]) -> dict[str, Any]:
    return {"p50": round(percentile(values, 50) * 1000, 2), "p99": round(percentile(values, 99) * 1000, 2),
            "count": len(values), "mean": round(statistics.fmean(values) * 1000, 2) if values else None}


class TimedQueue(list):
    """The test client's receive buffer, with the arrival time of each event and a wake-up for its reader."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        super().append(item)
        self.arrived.set()


@dataclass
class Results:
    pop_latencies: list[float] = field(default_factory=list)
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def run_inbound(calls: int = 200, agents: int = 100, talk_seconds: float = 40.0, speed: float = 2.0,
                arrival_seconds: float = 30.0, seed: int = 7, in_process: bool = False,
                echo=print) -> dict[str, Any]:
    """Run the scenario and return (and print) the figures."""
    run = _run_in_process if in_process else _run_split
    return run(calls=calls, agents=agents, talk_seconds=talk_seconds, speed=speed,
               arrival_seconds=arrival_seconds, seed=seed, echo=echo)


def _seed(session, agents: int) -> list[tuple[int, str]]:
    """The bench's queues (Sales with its skill, Support, Billing; open all week), the default IVR flow and
    `agents` Sales agents; returns their (id, username)."""
    from callcenter.models import Queue, QueueSkill
    from callcenter.seed import ALL_WEEK
    from callcenter.services import auth, ivr_flows

    queue = Queue(name="Sales", business_hours=ALL_WEEK, wrap_up_seconds=1,
                  reservation_timeout_seconds=RESERVATION_SECONDS, max_wait_seconds=3600)
    queue.skills = [QueueSkill(skill=auth.get_or_create_skill(session, "sales"), min_level=1)]
    session.add(queue)
    for name in ("Support", "Billing"):
        session.add(Queue(name=name, business_hours=ALL_WEEK))
    session.flush()
    ivr_flows.ensure_default_flow(session)
    people = [auth.create_user(session, username=f"agent{n:03d}", password=PASSWORD, full_name=f"Agent {n}",
                               skills={"sales": 5}) for n in range(agents)]
    session.commit()
    return [(p.id, p.username) for p in people]


def _start_callers(carrier, calls: int, talk_seconds: float, arrival_seconds: float, seed: int,
                   results: Results, watch=lambda: None) -> tuple[list[threading.Thread], float, dict[str, int]]:
    """Dial `calls` callers with Poisson arrivals; wait for them all (calling `watch` every half second, which
    may raise to abort); return (threads, elapsed, peak)."""
    rng = random.Random(seed)
    callers = []
    began = time.monotonic()
    for n in range(calls):
        thread = threading.Thread(target=_caller, args=(carrier, f"+1415555{n:04d}", talk_seconds, results),
                                  daemon=True)
        thread.start()
        callers.append(thread)
        # Poisson arrivals: `calls` spread over about `arrival_seconds`.
        time.sleep(rng.expovariate(calls / arrival_seconds))
    peak = {"calls": 0}
    while any(t.is_alive() for t in callers):
        peak["calls"] = max(peak["calls"], sum(1 for c in list(carrier.calls.values())
                                               if not c.ended and c.direction == "inbound"))
        watch()
        time.sleep(0.5)
    for thread in callers:
        thread.join(timeout=300)
    return callers, time.monotonic() - began, peak


# ---- default mode: the product in its own processes ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProductProcesses:
    """`python -m callcenter web` and `worker` as children, logging to files; always stopped by `stop`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            # Own session: a Ctrl-C in the terminal reaches the bench, which stops the children in order.
            self.children[name] = subprocess.Popen([sys.executable, "-m", "callcenter", *args], env=env,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def check(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(f"the product's {name} process exited with code {child.returncode}:\n"
                                   + self.tail(name))

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_until_serving(base: str, processes: ProductProcesses, timeout: float = 60.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        try:
            if requests.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the product did not answer at {base} within {timeout:.0f} s:\n" + processes.tail("web"))


@dataclass
class Pop:
    """One offer as an agent's console received it."""

    call_sid: str
    arrived: float  # harness monotonic clock
    expires_at: str


class Console:
    """One agent: a real Socket.IO client on /agent with the session cookie of a real login, and a softphone."""

    def __init__(self, base: str, agent_id: int, username: str, softphone, results: Results,
                 pops: list[Pop], stop: threading.Event) -> None:
        import socketio

        self.base = base
        self.agent_id = agent_id
        self.username = username
        self.softphone = softphone
        self.results = results
        self.pops = pops
        self.stop = stop
        self.inbox: queues.Queue[str] = queues.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("offer", self._on_offer, namespace="/agent")
        self.sio.on("heartbeat", self._on_heartbeat, namespace="/agent")
        self.sio.on("disconnect", self._on_disconnect, namespace="/agent")
        self.thread = threading.Thread(target=self._answer_calls, name=f"agent-{agent_id}", daemon=True)

    def connect(self) -> None:
        import requests

        http = requests.Session()
        page = http.get(f"{self.base}/login", timeout=30)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("no csrf_token in the login form")
        response = http.post(f"{self.base}/login", data={"username": self.username, "password": PASSWORD,
                                                        "csrf_token": found.group(1)},
                             allow_redirects=False, timeout=30)
        if response.status_code != 302:
            raise RuntimeError(f"login of {self.username} answered {response.status_code}")
        self.sio.eio.http = http  # the websocket handshake carries this session's cookies
        # ... and its User-Agent: the login's session protection ties the session to it, as a browser would.
        self.sio.connect(self.base, namespaces=["/agent"], transports=["websocket"], wait_timeout=30,
                         headers={"User-Agent": str(http.headers["User-Agent"])})
        self.thread.start()

    def available(self) -> None:
        answer = self.sio.call("set_state", {"state": "available"}, namespace="/agent", timeout=30)
        if not answer or not answer.get("ok"):
            raise RuntimeError(f"set_state available for {self.username}: {answer}")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing after the server is gone is not a result
            self.sio.disconnect()

    def _on_offer(self, offer: dict[str, Any]) -> None:
        arrived = time.monotonic()
        with self.results.lock:
            self.pops.append(Pop(offer["call_sid"], arrived, offer["expires_at"]))
        self.sio.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent")
        self.inbox.put(offer["call_sid"])

    def _on_heartbeat(self, data: dict[str, Any]) -> None:
        self.sio.emit("heartbeat", {"nonce": data.get("nonce")}, namespace="/agent")

    def _on_disconnect(self, *_args: Any) -> None:
        if not self.stop.is_set():
            self.results.error(f"agent {self.agent_id}: socket disconnected")

    def _answer_calls(self) -> None:
        while not self.stop.is_set():
            try:
                self.inbox.get(timeout=0.5)
            except queues.Empty:
                continue
            try:
                self.softphone.wait_for_incoming(timeout=20)
                leg = self.softphone.accept(timeout=20)
                leg.wait_ended(timeout=120)
            except Exception as exc:  # a lost offer is an error to count, not a crash of the agent
                if not self.stop.is_set():
                    self.results.error(f"agent {self.agent_id}: {exc}")
            self.softphone.current = None


def _run_split(calls: int, agents: int, talk_seconds: float, speed: float, arrival_seconds: float, seed: int,
               echo) -> dict[str, Any]:
    from sqlalchemy.orm import Session
    from werkzeug.serving import make_server

    from callcenter import create_app, migrate
    from callcenter.db import make_engine
    from callcenter.redis_conn import EmbeddedRedis
    from callcenter.services.inbound_calls import agent_identity
    from callcenter.telephony.sim import get_carrier

    root = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    processes = ProductProcesses(root)
    embedded: EmbeddedRedis | None = None
    server = None
    carrier = None
    consoles: list[Console] = []
    stop = threading.Event()
    previous_term = _stop_on_sigterm()
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            embedded = EmbeddedRedis(root / "redis")
            redis_url = embedded.url
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{root / 'bench.sqlite'}"
        engine = make_engine(database_url)
        migrate.upgrade(engine)
        with Session(engine) as session:
            people = _seed(session, agents)
        engine.dispose()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The harness's carrier: its numbers send the product's voice/status URLs; its REST API on its own port.
        harness = create_app({
            "INSTANCE_PATH": str(root / "harness"), "SECRET_KEY": "bench-harness", "TESTING": True,
            "DATABASE_URL": f"sqlite:///{root / 'harness.sqlite'}", "REDIS_URL": redis_url,
            "SOCKETIO_MESSAGE_QUEUE": False, "PUBLIC_BASE_URL": base, "TELEPHONY_PROVIDER": "sim",
            "SIM_TRANSPORT": None, "SIM_REST_URL": None, "SIM_SPEED": speed, "SIM_PHONE_NUMBERS": [NUMBER],
            "SIM_ACCOUNT_SID": SIM_ACCOUNT_SID, "SIM_AUTH_TOKEN": SIM_AUTH_TOKEN,
        })
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        carrier = get_carrier(harness)
        server = make_server("127.0.0.1", 0, harness, threaded=True)
        threading.Thread(target=server.serve_forever, name="carrier-rest", daemon=True).start()

        env = dict(os.environ)
        env.pop("SIM_TRANSPORT", None)
        env.update({
            "CALLCENTER_INSTANCE": str(root / "product"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key", "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_BASE_URL": base,
            "TELEPHONY_PROVIDER": "sim", "SIM_ACCOUNT_SID": SIM_ACCOUNT_SID, "SIM_AUTH_TOKEN": SIM_AUTH_TOKEN,
            "SIM_REST_URL": f"http://127.0.0.1:{server.server_port}/sim", "SIM_PHONE_NUMBERS": NUMBER,
            "SOCKETIO_MESSAGE_QUEUE": "true", "HOLD_SECONDS": "20", "OFFER_ACK_SECONDS": "5", "SEED_DEMO": "false",
            # Each agent's websocket holds one of gunicorn's threads for as long as it is open.
            "WEB_THREADS": str(agents + 64),
        })
        processes.start("web", ["web"], env)
        processes.start("worker", ["worker"], env)
        _wait_until_serving(base, processes)

        results = Results()
        pops: list[Pop] = []
        consoles = [Console(base, agent_id, username, carrier.client(agent_identity(agent_id)), results, pops, stop)
                    for agent_id, username in people]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(Console.connect, consoles))
            list(pool.map(Console.available, consoles))
        time.sleep(1.0)
        processes.check()
        _callers, elapsed, peak = _start_callers(carrier, calls, talk_seconds, arrival_seconds, seed, results,
                                                 watch=processes.check)
        processes.check()
        stop.set()

        webhook = [r.latency for r in carrier.webhook_log if "/ivr/voice" in r.url or "/ivr/menu" in r.url]
        all_webhooks = [r.latency for r in carrier.webhook_log]
        during, after = _pop_latencies(pops, carrier.webhook_log)
        errors = results.errors + [f"carrier: {e.message}" for e in carrier.errors]
        figures = {
            "mode": "product in its own processes (gunicorn web + worker), harness in this one",
            "calls": calls, "agents": agents, "elapsed_seconds": round(elapsed, 1),
            "peak_concurrent_calls": peak["calls"],
            "ivr_webhook_ms": _ms(webhook),
            "ivr_webhook_in_app_ms": None,
            "all_webhooks_ms": _ms(all_webhooks),
            "screen_pop_ms": _ms(during + after),
            "screen_pop_during_enqueue_ms": _ms(during),
            "screen_pop_after_wait_ms": _ms(after),
            "calls_completed": results.completed,
            "errors": len(errors),
        }
        echo(_report(figures, errors))
        return figures
    finally:
        stop.set()
        for console in consoles:
            console.close()
        if carrier is not None:
            carrier.shutdown()
        if server is not None:
            server.shutdown()
        processes.stop()
        if embedded is not None:
            embedded.shutdown()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        shutil.rmtree(root, ignore_errors=True)


def _stop_on_sigterm():
    """Make SIGTERM unwind like Ctrl-C, so the product's processes and temp folders are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, _raise)


def _pop_latencies(pops: list[Pop], webhook_log) -> tuple[list[float], list[float]]:
    """Screen-pop latencies: from the enqueue webhook's send when the offer was made during it, else from the
    reservation (the offer's expires_at minus the reservation timeout, the product's clock: same machine)."""
    epoch_to_monotonic = time.monotonic() - time.time()
    enqueued: dict[str, float] = {}
    for record in list(webhook_log):
        if "/ivr/menu" in record.url and record.params.get("Digits") == "1" and record.call_sid:
            enqueued[record.call_sid] = record.at - record.latency
    during: list[float] = []
    after: list[float] = []
    for pop in pops:
        reserved = (datetime.fromisoformat(pop.expires_at).timestamp() - RESERVATION_SECONDS
                    + epoch_to_monotonic)
        sent = enqueued.get(pop.call_sid)
        if sent is not None and reserved - sent < DURING_WEBHOOK_SECONDS:
            during.append(pop.arrived - sent)
        else:
            after.append(pop.arrived - reserved)
    return during, after


# ---- --in-process: everything in this process ------------------------------------------------------------------


def _run_in_process(calls: int, agents: int, talk_seconds: float, speed: float, arrival_seconds: float, seed: int,
                    echo) -> dict[str, Any]:
    from callcenter import create_app, migrate
    from callcenter.extensions import db, socketio
    from callcenter.services.events import bus
    from callcenter.services.inbound_calls import agent_identity
    from callcenter.telephony.sim import get_carrier
    from workers.ticker import Ticker

    root = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    config = {
        "INSTANCE_PATH": str(root / "instance"), "SECRET_KEY": "bench", "TESTING": True,
        "WTF_CSRF_ENABLED": False, "SOCKETIO_MESSAGE_QUEUE": False, "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": "localhost", "TELEPHONY_PROVIDER": "sim", "SIM_TRANSPORT": "wsgi", "SIM_SPEED": speed,
        "SIM_PHONE_NUMBERS": [NUMBER], "HOLD_SECONDS": 20, "OFFER_ACK_SECONDS": 5.0, "SIM_REST_URL": None,
    }
    if not os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{root / 'bench.sqlite'}"
    app = create_app(config)
    results = Results()
    pop_started: dict[str, float] = {}
    reserved_at: dict[str, float] = {}
    server_side: list[float] = []
    try:
        with app.app_context():
            migrate.upgrade(db.engine)
            people = _seed(db.session, agents)
        from flask import g, request

        @app.before_request
        def _mark_menu_webhook() -> None:
            # The menu webhook that routes a caller to the queue starts the screen-pop clock.
            g.bench_started = time.perf_counter()
            if request.path == "/ivr/menu" and request.form.get("Digits") == "1":
                pop_started[request.form.get("CallSid", "")] = time.monotonic()

        @app.after_request
        def _time_in_app(response):
            if request.path in ("/ivr/voice", "/ivr/menu") and "bench_started" in g:
                server_side.append(time.perf_counter() - g.bench_started)
            return response

        def _mark_reservation(event) -> None:
            # A caller who had to wait is popped when an agent frees up: their clock starts at the reservation.
            if event.name == "offer.created":
                reserved_at.setdefault(event.payload["call_sid"], time.monotonic())

        bus.subscribe(_mark_reservation, first=True)
        carrier = get_carrier(app)
        ticker = Ticker(app, interval=0.25).start()
        stop = threading.Event()
        for agent_id, username in people:
            threading.Thread(target=_agent, args=(app, socketio, carrier, agent_id, username,
                                                  agent_identity(agent_id), talk_seconds, results,
                                                  pop_started, reserved_at, stop), daemon=True).start()
        time.sleep(1.0)
        _callers, elapsed, peak = _start_callers(carrier, calls, talk_seconds, arrival_seconds, seed, results)
        stop.set()
        ticker.stop()
        bus.unsubscribe(_mark_reservation)
        webhook = [r.latency for r in carrier.webhook_log
                   if "/ivr/voice" in r.url or "/ivr/menu" in r.url]
        all_webhooks = [r.latency for r in carrier.webhook_log]
        errors = results.errors + [f"carrier: {e.message}" for e in carrier.errors]
        carrier.shutdown()
        figures = {
            "mode": "in process (app, emulator and Socket.IO test clients share one process)",
            "calls": calls, "agents": agents, "elapsed_seconds": round(elapsed, 1),
            "peak_concurrent_calls": peak["calls"],
            "ivr_webhook_ms": _ms(webhook),
            "ivr_webhook_in_app_ms": _ms(server_side),
            "all_webhooks_ms": _ms(all_webhooks),
            "screen_pop_ms": _ms(results.pop_latencies),
            "calls_completed": results.completed,
            "errors": len(errors),
        }
        echo(_report(figures, errors))
        return figures
    finally:
        with app.app_context():
            db.session.remove()
        db.engine.dispose()
        embedded = app.extensions.get("callcenter.embedded_redis")
        if embedded is not None:
            embedded.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _agent(app, socketio, carrier, agent_id, username, identity, talk_seconds, results, pop_started, reserved_at,
           stop) -> None:
    try:
        http = app.test_client()
        http.post("/login", data={"username": username, "password": PASSWORD})
        client = socketio.test_client(app, namespace="/agent", flask_test_client=http)
        inbox = TimedQueue()
        client.queue = inbox
        softphone = carrier.client(identity)
        client.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
        seen = 0
        while not stop.is_set():
            inbox.arrived.wait(0.5)
            inbox.arrived.clear()
            while seen < len(inbox):
                event, arrived = inbox[seen], inbox.times[seen]
                seen += 1
                if event["name"] == "heartbeat":
                    client.emit("heartbeat", event["args"][0], namespace="/agent", callback=True)
                if event["name"] != "offer":
                    continue
                offer = event["args"][0]
                started = _clock_start(pop_started.get(offer["call_sid"]), reserved_at.get(offer["call_sid"]))
                if started is not None:
                    with results.lock:
                        results.pop_latencies.append(arrived - started)
                client.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)
                try:
                    softphone.wait_for_incoming(timeout=20)
                    leg = softphone.accept(timeout=20)
                    leg.wait_ended(timeout=120)
                except Exception as exc:  # a lost offer is an error to count, not a crash of the agent
                    results.error(f"agent {agent_id}: {exc}")
                    softphone.current = None
                    continue
                softphone.current = None
    except Exception as exc:
        results.error(f"agent {agent_id} crashed: {exc!r}")


def _clock_start(webhook_started: float | None, reserved: float | None) -> float | None:
    """The enqueue webhook's start when the offer was made during it, else the moment of the reservation."""
    if webhook_started is None or reserved is None:
        return webhook_started or reserved
    return webhook_started if reserved - webhook_started < 1.0 else reserved


def _caller(carrier, number: str, talk_seconds: float, results: Results) -> None:
    try:
        call = carrier.dial(number, NUMBER)
        call.wait_for_say("For sales", timeout=60)
        call.press("1")
        call.wait_for(lambda e: e.get("type") == "conference" and e.get("event") == "joined", timeout=240)
        time.sleep(talk_seconds)
        call.hangup()
        with results.lock:
            results.completed += 1
    except Exception as exc:
        results.error(f"caller {number}: {exc!r}")


def _line(label: str, figures: dict[str, Any] | None, note: str) -> str:
    if figures is None:
        return f"  {label:<21} n/a   ({note})"
    return f"  {label:<21} p50 {figures['p50']} ms   p99 {figures['p99']} ms   ({figures['count']} {note})"


def _report(figures: dict[str, Any], errors: list[str]) -> str:
    lines = [
        f"inbound benchmark: {figures['calls']} calls, {figures['agents']} agents, "
        f"{figures['elapsed_seconds']} s, at most {figures['peak_concurrent_calls']} calls at once",
        f"  mode                  {figures['mode']}",
        _line("IVR webhook latency", figures["ivr_webhook_ms"], "requests, /ivr/voice and /ivr/menu"),
        _line("IVR webhook in app", figures["ivr_webhook_in_app_ms"],
              "request start to response, inside the app" if figures["ivr_webhook_in_app_ms"] is not None
              else "the app runs in another process; the latency above is a loopback HTTP round trip"),
        _line("all webhooks", figures["all_webhooks_ms"], "requests"),
        _line("screen-pop latency", figures["screen_pop_ms"], "pops"),
    ]
    if "screen_pop_during_enqueue_ms" in figures:
        lines += [
            _line("  during enqueue", figures["screen_pop_during_enqueue_ms"],
                  "pops: enqueue webhook sent -> agent's socket has the pop"),
            _line("  after a wait", figures["screen_pop_after_wait_ms"],
                  "pops: reservation (expires_at - timeout) -> agent's socket"),
        ]
    lines += [
        f"  calls completed       {figures['calls_completed']}",
        f"  errors                {figures['errors']}",
    ]
    lines += [f"    {e}" for e in errors[:10]]
    return "\n".join(lines)
