"""`callcenter bench inbound`: many emulated callers and connected agent consoles, measured in ratios.

The product runs as production does, in its own processes (`python -m callcenter web` and `python -m callcenter
worker`) on a fresh instance: a temporary SQLite file unless DATABASE_URL is set, and an embedded Redis the bench
starts unless REDIS_URL is set. The harness runs in this process: the carrier emulator (its Twilio REST API served
on another loopback port and given to the product as SIM_REST_URL; webhooks sent to the product over real HTTP),
the agents' consoles (python-socketio asyncio clients, all in one event-loop thread, each logged in through /login)
and the callers.

Absolute latencies on a shared 2-core machine say little, so every figure comes with its yardstick from the same
run: each webhook path against the bare route (`GET /ping`: no database, Redis or session), sent the same way
(a fresh loopback HTTP request) a few times a second throughout; the screen-pop against the bare Socket.IO round
trip (the `echo` event on /agent). Before the callers start, an unloaded phase sends interleaved signed
/ping, /ivr/voice, /ivr/menu and /ivr/status requests to the idle product, one at a time.

Each agent acknowledges its pops, answers its softphone, talks, and is available again after a short wrap-up;
each caller dials, picks Sales in the IVR, waits, talks, and hangs up. Also printed: carrier errors (webhook
timeouts, 11200) apart from the bench's own errors, calls completed, each product process's peak RSS (through the
calls and every console leaving at once, after them), threads and CPU (read from /proc), and the harness's own CPU
use (it shares the cores with the product).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server

NUMBER = "+18005550100"
PASSWORD = "bench-password"
RESERVATION_SECONDS = 30  # the Sales queue's reservation timeout: an offer's expires_at minus this is its start
SIM_ACCOUNT_SID = "AC" + "0" * 31 + "1"
SIM_AUTH_TOKEN = "b" * 32
# An offer made less than this after the enqueue webhook was sent was made during it (the caller found an agent).
DURING_WEBHOOK_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 15
PING_INTERVAL = 0.25
# Between the greeting and the key press of an unloaded round. A real caller hears the menu for several seconds;
# the product uses them (a job learns the caller), and this much is enough for an idle worker.
LISTENING_SECONDS = 0.3  # the bare route, a few times a second through the run
PAUSED_PING = "/ping after a pause"  # the unloaded bare route sent LISTENING_SECONDS after the last request
ECHO_INTERVAL = 0.2  # one agent's console (in turn) sends a Socket.IO echo this often
SAMPLE_INTERVAL = 0.5  # the product processes' /proc figures
UNLOADED_ROUNDS = 50  # of /ping, /ivr/voice, /ivr/menu, /ivr/status: 200 requests
UNLOADED_PATHS = ("/ivr/voice", "/ivr/menu", "/ivr/status")
FLOW_ORDER = ("/ivr/voice", "/ivr/menu", "/ivr/wait", "/ivr/status")  # then the agent's legs, alphabetically
# The emulator reports a hung-up call ended once the product has answered the callbacks the hang-up sends (the
# leg's status, the conference's end), which may take Twilio's 15 s webhook timeout: a slow answer there is the
# product's latency (or a carrier error when it times out), not a caller that failed, so the caller waits well
# beyond it.
HANGUP_SECONDS = 60
DISCONNECT_SETTLE_SECONDS = 2.0  # for the web workers to handle every console's disconnect
CONNECT_CONCURRENCY = 16  # logins hash passwords on the server: not all 500 at once
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ms(values: list[float]) -> dict[str, Any]:
    return {"p50": round(percentile(values, 50) * 1000, 2), "p99": round(percentile(values, 99) * 1000, 2),
            "count": len(values), "mean": round(statistics.fmean(values) * 1000, 2) if values else None}


def _ratio(value: float, yardstick: float) -> float:
    if not (math.isfinite(value) and math.isfinite(yardstick)) or yardstick <= 0:
        return float("nan")
    return round(value / yardstick, 2)


def _with_ratio(figures: dict[str, Any], yardstick: dict[str, Any]) -> dict[str, Any]:
    """`figures` plus `ratio` (p50 over the yardstick's p50) and `ratio_p99` (p99 over its p99)."""
    return {**figures, "ratio": _ratio(figures["p50"], yardstick["p50"]),
            "ratio_p99": _ratio(figures["p99"], yardstick["p99"])}


@dataclass
class Results:
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


@dataclass
class Sample:
    """One timed request of a yardstick: when it was sent (monotonic) and how long it took."""

    at: float
    latency: float


def within(samples: list[Sample], start: float, end: float) -> list[float]:
    return [s.latency for s in list(samples) if start <= s.at <= end]


def run_inbound(calls: int = 200, agents: int = 100, talk_seconds: float = 40.0, speed: float = 2.0,
                arrival_seconds: float = 30.0, seed: int = 7, unloaded_rounds: int = UNLOADED_ROUNDS,
                echo=print) -> dict[str, Any]:
    """Run the scenario and return (and print) the figures."""
    return _run(calls=calls, agents=agents, talk_seconds=talk_seconds, speed=speed,
                arrival_seconds=arrival_seconds, seed=seed, unloaded_rounds=unloaded_rounds, echo=echo)


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
    hashed = auth.hash_password(PASSWORD)
    people = [auth.create_user(session, username=f"agent{n:03d}", password=PASSWORD, full_name=f"Agent {n}",
                               skills={"sales": 5}, password_hash=hashed) for n in range(agents)]
    session.commit()
    return [(p.id, p.username) for p in people]


def _start_callers(carrier, calls: int, talk_seconds: float, arrival_seconds: float, seed: int,
                   results: Results, watch=lambda: None) -> tuple[float, dict[str, int]]:
    """Dial `calls` callers with Poisson arrivals; wait for them all (calling `watch` every half second, which
    may raise to abort); return (elapsed, peak)."""
    rng = random.Random(seed)
    callers = []
    began = time.monotonic()
    for n in range(calls):
        thread = threading.Thread(target=_caller, args=(carrier, f"+1415555{n:04d}", talk_seconds, results),
                                  name=f"caller-{n}", daemon=True)
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
    return time.monotonic() - began, peak


def _caller(carrier, number: str, talk_seconds: float, results: Results) -> None:
    try:
        call = carrier.dial(number, NUMBER)
        call.wait_for_say("For sales", timeout=60)
        call.press("1")
        call.wait_for(lambda e: e.get("type") == "conference" and e.get("event") == "joined", timeout=240)
        time.sleep(talk_seconds)
        call.hangup(timeout=HANGUP_SECONDS)
        with results.lock:
            results.completed += 1
    except Exception as exc:
        results.error(f"caller {number}: {exc!r}")


# ---- the product's processes ----------------------------------------------------------------------------------


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


# ---- /proc: memory, threads and CPU of the product's processes, without psutil -----------------------------------


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own CPU ticks, reaped children's CPU ticks) of `pid`, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name, in parentheses, may hold spaces
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _proc_memory(pid: int) -> tuple[float, int, float] | None:
    """(peak resident MB so far: the kernel's VmHWM, threads, anonymous resident MB now: RssAnon, the part not
    shared with files or the parent) of `pid`, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return (int(values["VmHWM"].split()[0]) / 1024, int(values["Threads"]),
                int(values["RssAnon"].split()[0]) / 1024)
    except (KeyError, ValueError):  # a zombie has no memory figures
        return None


def _run_delay_seconds(pid: int) -> float:
    """How long the threads of `pid` now alive were ready to run but waited for a CPU (the scheduler's run
    delay, /proc/<pid>/task/*/schedstat); 0 once it is gone. On a saturated machine latency is this wait."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    waited = 0
    for tid in tasks:
        try:
            waited += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waited / 1e9


def _descendants(root: int) -> list[int]:
    """Every process below `root`, from the kernel's list of each thread's children: a few small reads, where a
    scan of all /proc held the harness's GIL for milliseconds twice a second, inside the latencies it measures.
    By the scan when the kernel keeps no such list (CONFIG_PROC_CHILDREN)."""
    if not Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children").exists():
        return _descendants_by_scan(root)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone meanwhile
        for tid in tasks:
            try:
                children = [int(child) for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _descendants_by_scan(root: int) -> list[int]:
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                parents[stat[0]].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass
class ProcessFigures:
    peak_rss_mb: float = 0.0
    peak_threads: int = 0
    peak_anon_mb: float = 0.0
    pids: set[int] = field(default_factory=set)


class ProcessSampler:
    """Every half second: each watched process tree's peak RSS and threads, per process (the root and, apart,
    the largest of its children: gunicorn's worker, RQ's work horses); CPU of each tree over a window."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.figures: dict[str, ProcessFigures] = {}
        self.harness = ProcessFigures()  # this process alone (its children are the product)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)

    def start(self) -> ProcessSampler:
        self.sample()
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_INTERVAL):
            self.sample()

    def sample(self) -> None:
        own = _proc_memory(os.getpid())
        if own is not None:
            self.harness.peak_rss_mb = max(self.harness.peak_rss_mb, own[0])
            self.harness.peak_threads = max(self.harness.peak_threads, own[1])
        for name, root in self.roots.items():
            for label, pids in ((name, [root]), (f"{name}/child", _descendants(root))):
                for pid in pids:
                    memory = _proc_memory(pid)
                    if memory is None:
                        continue
                    figures = self.figures.setdefault(label, ProcessFigures())
                    figures.peak_rss_mb = max(figures.peak_rss_mb, memory[0])
                    figures.peak_threads = max(figures.peak_threads, memory[1])
                    figures.peak_anon_mb = max(figures.peak_anon_mb, memory[2])
                    figures.pids.add(pid)

    def cpu_ticks(self) -> dict[str, int]:
        """Each tree's CPU ticks so far: its live processes plus what their reaped children used."""
        ticks = {}
        for name, root in self.roots.items():
            total = 0
            for pid in [root, *_descendants(root)]:
                stat = _proc_stat(pid)
                if stat is not None:
                    total += stat[1] + stat[2]
            ticks[name] = total
        return ticks

    def run_delays(self) -> dict[str, float]:
        """Each tree's CPU wait so far: seconds its live threads were runnable with no CPU free. (Not the
        harness's: its callers' threads end before the figure is read, and their waits with them.)"""
        return {name: sum(_run_delay_seconds(pid) for pid in [root, *_descendants(root)])
                for name, root in self.roots.items()}

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


# ---- the yardsticks: the bare route and the unloaded phase --------------------------------------------------------


class Pinger:
    """`GET /ping` every PING_INTERVAL through the run, sent as the carrier sends webhooks (a fresh loopback
    HTTP request with the same client), so a webhook's latency over the ping's is what the webhook costs."""

    def __init__(self, transport, base: str, results: Results) -> None:
        self.transport = transport
        self.url = f"{base}/ping"
        self.results = results
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pinger", daemon=True)

    def once(self) -> Sample | None:
        started = time.monotonic()
        response = self.transport.send("GET", self.url, {}, {})
        sample = Sample(started, time.monotonic() - started)
        if not 200 <= response.status < 300:
            self.results.error(f"GET /ping answered {response.status} {response.error or ''}".strip())
            return None
        self.samples.append(sample)
        return sample

    def start(self) -> Pinger:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(PING_INTERVAL):
            self.once()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=20)


def _unloaded_phase(carrier, base: str, pinger: Pinger, rounds: int, results: Results) -> dict[str, list[float]]:
    """On the idle product (consoles connected, nobody available yet), one request at a time: /ping, then a
    caller's /ivr/voice, /ivr/menu (Sales: the caller is queued) and /ivr/status (completed: the caller hangs up
    and leaves the queue), signed as the carrier signs them."""
    latencies: dict[str, list[float]] = defaultdict(list)

    def send(url: str, params: dict[str, str]) -> str:
        headers = {"X-Twilio-Signature": carrier.validator.compute_signature(url, params),
                   "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        started = time.monotonic()
        response = carrier.transport.send("POST", url, params, headers)
        latency = time.monotonic() - started
        path = urlsplit(url).path
        if not 200 <= response.status < 300:
            results.error(f"unloaded {path} answered {response.status} {response.error or ''}".strip())
        else:
            latencies[path].append(latency)
        return response.body

    for n in range(rounds):
        sample = pinger.once()
        if sample is not None:
            latencies["/ping"].append(sample.latency)
        call = {"AccountSid": SIM_ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": "CA" + uuid.uuid4().hex,
                "Direction": "inbound", "From": f"+1415666{n:04d}", "To": NUMBER, "Caller": f"+1415666{n:04d}",
                "Called": NUMBER}
        greeting = send(f"{base}/ivr/voice", {**call, "CallStatus": "ringing"})
        action = re.search(r'<Gather[^>]*\baction="([^"]+)"', greeting)
        if action is None:
            results.error(f"unloaded /ivr/voice: no <Gather action> in {greeting[:200]!r}")
            continue
        time.sleep(LISTENING_SECONDS)  # the caller hears the greeting before pressing a key
        send(action.group(1).replace("&amp;", "&"), {**call, "CallStatus": "in-progress", "Digits": "1"})
        send(f"{base}/ivr/status", {**call, "CallStatus": "completed", "CallDuration": "5", "Duration": "1",
                                    "SequenceNumber": "0", "CallbackSource": "call-progress-events"})
        # The bare route again, after the pause the menu answer comes after: a process idle that long meets its
        # next request with cold caches, whatever the request.
        time.sleep(LISTENING_SECONDS)
        sample = pinger.once()
        if sample is not None:
            latencies[PAUSED_PING].append(sample.latency)
        time.sleep(0.02)  # idle between rounds: one request at a time, never a burst
    return latencies


# ---- the agents: asyncio Socket.IO consoles in one event-loop thread ---------------------------------------------


@dataclass
class Pop:
    """One offer as an agent's console received it."""

    call_sid: str
    arrived: float  # harness monotonic clock
    expires_at: str


class Softphone:
    """The agent's softphone, registered with the carrier as client:identity; a ring wakes the console in the
    event loop (the carrier rings from its call's thread)."""

    def __init__(self, carrier, identity: str, loop: asyncio.AbstractEventLoop,
                 on_ring: Callable[[Any], None]) -> None:
        self.carrier = carrier
        self.identity = identity
        self.loop = loop
        self.on_ring = on_ring
        carrier.register_client(identity, self)

    def ring(self, call) -> None:
        self.loop.call_soon_threadsafe(self.on_ring, call)

    def cancel(self, call) -> None:
        """The carrier stopped ringing: the console sees it on the call (ended or answered elsewhere)."""

    def unregister(self) -> None:
        self.carrier.unregister_client(self.identity, self)


class Console:
    """One agent: a python-socketio asyncio client on /agent with the session cookie of a real login, and a
    softphone. Acknowledges each pop, answers the ring that follows, and waits for the call to end."""

    def __init__(self, harness: AgentHarness, agent_id: int, username: str, identity: str) -> None:
        self.harness = harness
        self.agent_id = agent_id
        self.username = username
        self.identity = identity
        self.sio: Any = None
        self.http: Any = None
        self.phone: Softphone | None = None
        self.rings: list[Any] = []
        self.rang = asyncio.Event()
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        import aiohttp
        import socketio

        base = self.harness.base
        # The cookie jar must accept cookies from an IP address (127.0.0.1), which aiohttp's default refuses.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=60))
        async with self.http.get(f"{base}/login") as page:
            found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', await page.text())
        if found is None:
            raise RuntimeError("no csrf_token in the login form")
        async with self.http.post(f"{base}/login", allow_redirects=False,
                                  data={"username": self.username, "password": PASSWORD,
                                        "csrf_token": found.group(1)}) as response:
            if response.status != 302:
                raise RuntimeError(f"login of {self.username} answered {response.status}")
        # The websocket handshake goes through the same session: its cookies and its User-Agent, to which the
        # login's session protection tied the session, as a browser's would.
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http, handle_sigint=False)
        self.sio.on("offer", self._on_offer, namespace="/agent")
        self.sio.on("heartbeat", self._on_heartbeat, namespace="/agent")
        self.sio.on("disconnect", self._on_disconnect, namespace="/agent")
        self.phone = Softphone(self.harness.carrier, self.identity, asyncio.get_running_loop(), self._on_ring)
        await self.sio.connect(base, namespaces=["/agent"], transports=["websocket"], wait_timeout=30)
        self.worker = asyncio.create_task(self._answer_calls())

    async def available(self) -> None:
        answer = await self.sio.call("set_state", {"state": "available"}, namespace="/agent", timeout=30)
        if not answer or not answer.get("ok"):
            raise RuntimeError(f"set_state available for {self.username}: {answer}")

    async def echo(self, n: int) -> None:
        started = time.monotonic()
        try:
            answer = await self.sio.call("echo", {"n": n}, namespace="/agent", timeout=15)
        except Exception as exc:
            if not self.harness.stopping:
                self.harness.results.error(f"agent {self.agent_id}: echo {n}: {type(exc).__name__} {exc}")
            return
        if answer != {"n": n}:
            self.harness.results.error(f"agent {self.agent_id}: echo {n} answered {answer!r}")
            return
        self.harness.echoes.append(Sample(started, time.monotonic() - started))

    async def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        if self.phone is not None:
            self.phone.unregister()
        if self.sio is not None:
            with contextlib.suppress(Exception):  # closing after the server is gone is not a result
                await asyncio.wait_for(self.sio.disconnect(), 5)
        if self.http is not None:
            await self.http.close()

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        """Emit on /agent, once the client has seen the namespace's connect acknowledgement: under load the
        server's first events (a heartbeat) can arrive before it, and the client refuses to emit until then."""
        deadline = time.monotonic() + 15
        while "/agent" not in self.sio.namespaces:
            if time.monotonic() > deadline or self.harness.stopping:
                if not self.harness.stopping:
                    self.harness.results.error(f"agent {self.agent_id}: {event}: /agent not connected")
                return
            await asyncio.sleep(0.05)
        try:
            await self.sio.emit(event, data, namespace="/agent")
        except Exception as exc:
            if not self.harness.stopping:
                self.harness.results.error(f"agent {self.agent_id}: {event}: {type(exc).__name__} {exc}")

    async def _on_offer(self, offer: dict[str, Any]) -> None:
        arrived = time.monotonic()
        self.harness.pops.append(Pop(offer["call_sid"], arrived, offer["expires_at"]))
        await self._emit("offer_ack", {"call_sid": offer["call_sid"]})
        self.inbox.put_nowait(offer["call_sid"])

    async def _on_heartbeat(self, data: dict[str, Any]) -> None:
        await self._emit("heartbeat", {"nonce": data.get("nonce")})

    async def _on_disconnect(self, *_args: Any) -> None:
        if not self.harness.stopping:
            self.harness.results.error(f"agent {self.agent_id}: socket disconnected")

    def _on_ring(self, call) -> None:
        self.rings.append(call)
        self.rang.set()

    async def _ringing(self, timeout: float):
        """The next call ringing this softphone that nobody has answered yet."""
        deadline = time.monotonic() + timeout
        while True:
            self.rings = [c for c in self.rings if not c.ended and c.answered_by_endpoint is None]
            if self.rings:
                return self.rings.pop(0)
            self.rang.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"client:{self.identity} got no incoming call within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rang.wait(), remaining)

    @staticmethod
    async def _until(ready: Callable[[], bool], timeout: float, what: str, every: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not {what} within {timeout}s")
            await asyncio.sleep(every)

    async def _answer_calls(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.inbox.get()
            try:
                call = await self._ringing(timeout=20)
                if not await loop.run_in_executor(None, self.harness.carrier.answer, call.sid, self.phone):
                    raise RuntimeError(f"{call!r} could not be answered (no longer ringing)")
                await self._until(lambda c=call: c.answered or c.ended, 20, f"answered: {call!r}", 0.05)
                await self._until(lambda c=call: c.ended, 120 + self.harness.talk_seconds, f"ended: {call!r}", 0.5)
            except Exception as exc:  # a lost offer is an error to count, not a crash of the agent
                if not self.harness.stopping:
                    self.harness.results.error(f"agent {self.agent_id}: {type(exc).__name__} {exc}")


class AgentHarness:
    """Every console in one asyncio event loop on its own thread (hundreds of agents cost one thread, not
    several each); also the echo sender and a probe of the loop's own lag (the harness's health)."""

    def __init__(self, base: str, carrier, results: Results, talk_seconds: float) -> None:
        self.base = base
        self.carrier = carrier
        self.results = results
        self.talk_seconds = talk_seconds
        self.pops: list[Pop] = []
        self.echoes: list[Sample] = []
        self.loop_lag: list[float] = []
        self.consoles: list[Console] = []
        self.stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="agents", daemon=True)
        self.thread.start()
        self._background: list[asyncio.Future[Any]] = []

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def connect(self, people: list[tuple[int, str, str]]) -> None:
        async def connect_all() -> None:
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def one(console: Console) -> None:
                async with gate:
                    await console.connect()

            self.consoles = [Console(self, agent_id, username, identity) for agent_id, username, identity in people]
            await asyncio.gather(*(one(c) for c in self.consoles))

        self.run(connect_all())
        self._background = [asyncio.run_coroutine_threadsafe(self._send_echoes(), self.loop),
                            asyncio.run_coroutine_threadsafe(self._probe_lag(), self.loop)]

    def available(self) -> None:
        async def all_available() -> None:
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def one(console: Console) -> None:
                async with gate:
                    await console.available()

            await asyncio.gather(*(one(c) for c in self.consoles))

        self.run(all_available())

    async def _send_echoes(self) -> None:
        n = 0
        pending: set[asyncio.Task[None]] = set()
        while True:
            await asyncio.sleep(ECHO_INTERVAL)
            if self.consoles:
                task = asyncio.create_task(self.consoles[n % len(self.consoles)].echo(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1

    async def _probe_lag(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.1)
            self.loop_lag.append(time.monotonic() - started - 0.1)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.stopping = True
        for future in self._background:
            future.cancel()

        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in self.consoles), return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(close_all(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


# ---- the run ------------------------------------------------------------------------------------------------------


class _CarrierRestHandler(WSGIRequestHandler):
    """The emulator's REST API answers at once: werkzeug writes the headers and the body in two sends, and with
    Nagle's algorithm the body waited for the product's delayed ACK (40 ms on Linux) on every ring and redirect,
    which the bench then reported as the product's time in /ivr/agent/answer."""

    disable_nagle_algorithm = True


def _run(calls: int, agents: int, talk_seconds: float, speed: float, arrival_seconds: float, seed: int,
         unloaded_rounds: int, echo) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from callcenter import create_app, migrate
    from callcenter.db import make_engine
    from callcenter.redis_conn import EmbeddedRedis
    from callcenter.services.interactions import agent_identity
    from callcenter.telephony.sim import get_carrier

    root = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    processes = ProductProcesses(root)
    embedded: EmbeddedRedis | None = None
    server = None
    carrier = None
    agents_harness: AgentHarness | None = None
    pinger: Pinger | None = None
    sampler: ProcessSampler | None = None
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
        # Lost sockets and carrier errors are counted and shown in the report, not logged line by line.
        for noisy in ("engineio.client", "socketio.client", "callcenter.telephony.sim.engine"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
        carrier = get_carrier(harness)
        server = make_server("127.0.0.1", 0, harness, threaded=True, request_handler=_CarrierRestHandler)
        threading.Thread(target=server.serve_forever, name="carrier-rest", daemon=True).start()

        env = dict(os.environ)
        env.pop("SIM_TRANSPORT", None)
        env.update({
            "CALLCENTER_INSTANCE": str(root / "product"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key", "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_BASE_URL": base,
            "TELEPHONY_PROVIDER": "sim", "SIM_ACCOUNT_SID": SIM_ACCOUNT_SID, "SIM_AUTH_TOKEN": SIM_AUTH_TOKEN,
            "SIM_REST_URL": f"http://127.0.0.1:{server.server_port}/sim", "SIM_PHONE_NUMBERS": NUMBER,
            "WEB_ACCESS_LOG": str(root / "access.log"),
            "SOCKETIO_MESSAGE_QUEUE": "true", "HOLD_SECONDS": "20", "OFFER_ACK_SECONDS": "5", "SEED_DEMO": "false",
            # The bench measures calls; the worker's daily backup would take it away from their jobs for a while.
            "BACKUP_DAILY": "false",
        })
        # Production's shape on this machine: one web process per core (the emulator runs here, not in the web
        # process, so several are fine). One process holding all 500 consoles' sockets peaked at 217 MB.
        env.setdefault("WEB_PROCESSES", str(os.cpu_count() or 1))
        processes.start("web", ["web"], env)
        processes.start("worker", ["worker"], env)
        roots = {name: child.pid for name, child in processes.children.items()}
        if embedded is not None and getattr(embedded._server, "pid", None):
            roots["redis"] = embedded._server.pid
        sampler = ProcessSampler(roots).start()
        _wait_until_serving(base, processes)

        results = Results()
        agents_harness = AgentHarness(base, carrier, results, talk_seconds)
        agents_harness.connect([(agent_id, username, agent_identity(agent_id)) for agent_id, username in people])
        pinger = Pinger(carrier.transport, base, results)

        speed_before = reference_loop_ms()
        unloaded_start = time.monotonic()
        unloaded = _unloaded_phase(carrier, base, pinger, unloaded_rounds, results)
        unloaded_end = time.monotonic()

        agents_harness.available()
        time.sleep(1.0)
        processes.check()
        pinger.start()
        cpu_before, wall_before = _own_cpu(), time.monotonic()
        ticks_before, machine_before = sampler.cpu_ticks(), _machine_ticks()
        delays_before = sampler.run_delays()
        loaded_start = time.monotonic()
        access_from = _size(root / "access.log")
        elapsed, peak = _start_callers(carrier, calls, talk_seconds, arrival_seconds, seed, results,
                                       watch=processes.check)
        loaded_end = time.monotonic()
        wall = loaded_end - wall_before
        harness_cpu = _own_cpu() - cpu_before
        ticks_after, machine_after = sampler.cpu_ticks(), _machine_ticks()
        delays_after = sampler.run_delays()
        processes.check()
        pinger.close()
        lag = list(agents_harness.loop_lag)
        # Every console leaves at once (a network blip does that to a floor): each web worker handles its
        # disconnects together, and the processes' peak memory is measured through them.
        agents_harness.close()
        time.sleep(DISCONNECT_SETTLE_SECONDS)
        sampler.close()
        sampler.sample()

        server_side = _server_side(root / "access.log", access_from)
        figures = _figures(
            calls=calls, agents=agents, elapsed=elapsed, peak=peak, carrier=carrier, results=results,
            pops=agents_harness.pops, pings=within(pinger.samples, loaded_start, loaded_end),
            echoes=within(agents_harness.echoes, loaded_start, loaded_end),
            unloaded=unloaded, unloaded_echoes=within(agents_harness.echoes, unloaded_start, unloaded_end),
            sampler=sampler, ticks=(ticks_before, ticks_after), delays=(delays_before, delays_after), wall=wall,
            harness_cpu=harness_cpu,
            machine=(machine_before, machine_after), lag=lag,
            database="PostgreSQL" if database_url.startswith("postgresql") else database_url.split(":")[0],
        )
        figures["server_side_ms"] = server_side
        figures["reference_loop_ms"] = {"before": speed_before, "after": reference_loop_ms()}
        echo(_report(figures, results.errors, carrier.errors))
        return figures
    finally:
        if pinger is not None:
            pinger.close()
        if sampler is not None:
            sampler.close()
        if agents_harness is not None:
            agents_harness.close()
        if carrier is not None:
            carrier.shutdown()
        if server is not None:
            server.shutdown()
        processes.stop()
        if embedded is not None:
            embedded.shutdown()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        _keep_logs(root, echo)
        shutil.rmtree(root, ignore_errors=True)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _server_side(access_log: Path, start: int) -> dict[str, dict[str, Any]]:
    """Per path, the time the web process itself spent on each request of the loaded phase (its access log, from
    byte `start`): set beside the harness's figures, the difference is time spent before the request reached the
    server's code (the accept queue, a busy process) or in the harness."""
    by_path: dict[str, list[float]] = defaultdict(list)
    if access_log.exists():
        with access_log.open("rb") as log:
            log.seek(start)
            for line in log.read().decode("utf-8", "replace").splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[3].isdigit() and (parts[1].startswith("/ivr/") or parts[1] == "/ping"):
                    by_path[parts[1]].append(int(parts[3]) / 1_000_000)
    return {path: _ms(values) for path, values in sorted(by_path.items())}


def _keep_logs(root: Path, echo) -> None:
    """The product's logs outlive the run's folder: they say where the time went (and what failed)."""
    logs = [p for p in (root / "web.log", root / "worker.log", root / "access.log") if p.exists()]
    if not logs:
        return
    kept = Path(tempfile.mkdtemp(prefix="cc-bench-logs-"))
    for path in logs:
        shutil.copy(path, kept / path.name)
    echo(f"  product logs kept in {kept}")


REFERENCE_LOOP_ADDITIONS = 1_000_000


def reference_loop_ms(repeats: int = 3) -> float:
    """How fast this machine runs Python right now: the best of a few runs of a million additions, in ms.

    A shared machine drifts: the same code measured its IVR p99 at 56 ms and at 134 ms twelve minutes apart, every
    process using a quarter more CPU for the same work in the slower run. Printed before and after the calls, this
    says which runs may be compared."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for number in range(REFERENCE_LOOP_ADDITIONS):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def _carrier_errors(errors) -> dict[str, int]:
    """What Twilio would have reported: webhooks that timed out (or got no answer), other application errors
    (11200: an HTTP error status), and anything else the emulator rejected."""
    timeouts = sum(1 for e in errors if e.code == 11200 and ("HTTP 0" in e.message or "no response" in e.message))
    http = sum(1 for e in errors if e.code == 11200) - timeouts
    return {"total": len(errors), "timeouts": timeouts, "application_11200": http,
            "other": len(errors) - timeouts - http}


def _figures(*, calls, agents, elapsed, peak, carrier, results, pops, pings, echoes, unloaded, unloaded_echoes,
             sampler, ticks, delays, wall, harness_cpu, machine, lag, database) -> dict[str, Any]:
    log = list(carrier.webhook_log)
    by_path: dict[str, list[float]] = defaultdict(list)
    for record in log:
        by_path[urlsplit(record.url).path].append(record.latency)
    bare = _ms(pings)
    socket_echo = _ms(echoes)
    unloaded_bare = _ms(unloaded.get("/ping", []))
    unloaded_paused = _ms(unloaded.get(PAUSED_PING, []))
    unloaded_paths = {path: _with_ratio(_ms(unloaded.get(path, [])), unloaded_bare) for path in UNLOADED_PATHS}
    during, after = _pop_latencies(pops, log)
    cores = os.cpu_count() or 1
    (ticks_before, ticks_after), (machine_before, machine_after) = ticks, machine
    delays_before, delays_after = delays

    def waited_percent(name: str) -> float:
        waited = delays_after.get(name, 0.0) - delays_before.get(name, 0.0)
        return round(max(waited, 0.0) / wall * 100, 1) if wall > 0 else float("nan")
    processes: dict[str, dict[str, Any]] = {}
    for label, figures in sorted(sampler.figures.items()):
        name = label.split("/")[0]
        entry: dict[str, Any] = {"peak_rss_mb": round(figures.peak_rss_mb, 1), "peak_threads": figures.peak_threads,
                                 "peak_anon_mb": round(figures.peak_anon_mb, 1), "processes": len(figures.pids)}
        if "/" not in label and name in ticks_after:
            used = (ticks_after[name] - ticks_before.get(name, 0)) / CLK_TCK
            entry["cpu_percent"] = round(used / wall * 100, 1) if wall > 0 else float("nan")
            entry["cpu_wait_percent"] = waited_percent(name)
        processes[label] = entry
    machine_busy = machine_after[0] - machine_before[0]
    machine_total = machine_after[1] - machine_before[1]
    return {
        "mode": "product in its own processes (python -m callcenter web + worker), harness in this one",
        "database": database,
        "calls": calls, "agents": agents, "elapsed_seconds": round(elapsed, 1),
        "peak_concurrent_calls": peak["calls"],
        "bare_route_ms": bare,
        "webhooks_ms": {path: _with_ratio(_ms(by_path[path]), bare)
                        for path in sorted(by_path, key=lambda p: (FLOW_ORDER.index(p) if p in FLOW_ORDER
                                                                   else len(FLOW_ORDER), p))},
        "ivr_webhook_ms": _with_ratio(_ms(by_path.get("/ivr/voice", []) + by_path.get("/ivr/menu", [])), bare),
        "all_webhooks_ms": _with_ratio(_ms([r.latency for r in log]), bare),
        "unloaded": {
            "bare_route": unloaded_bare,
            **unloaded_paths,
            "socket_echo": _ms(unloaded_echoes),
            "bare_route_after_pause": unloaded_paused,
            "menu_over_paused_bare_route": _ratio(unloaded_paths["/ivr/menu"]["p50"], unloaded_paused["p50"]),
        },
        "socket_echo_ms": socket_echo,
        "screen_pop_ms": _with_ratio(_ms(during + after), socket_echo),
        "screen_pop_during_enqueue_ms": _with_ratio(_ms(during), socket_echo),
        "screen_pop_after_wait_ms": _with_ratio(_ms(after), socket_echo),
        "calls_completed": results.completed,
        "carrier_errors": _carrier_errors(carrier.errors),
        "errors": len(results.errors),
        "processes": processes,
        "harness_cpu_percent": round(harness_cpu / wall * 100, 1) if wall > 0 else float("nan"),
        "harness_cpu_machine_percent": round(harness_cpu / wall * 100 / cores, 1) if wall > 0 else float("nan"),
        "harness_peak_threads": sampler.harness.peak_threads,
        "harness_peak_rss_mb": round(sampler.harness.peak_rss_mb, 1),
        "harness_loop_lag_ms": _ms(lag),
        "machine_cpu_percent": round(machine_busy / machine_total * 100, 1) if machine_total else float("nan"),
        "cores": cores,
    }


# ---- the report ---------------------------------------------------------------------------------------------------


def _x(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:g}x"


def _line(label: str, figures: dict[str, Any], note: str = "", yardstick: str = "") -> str:
    if not figures["count"]:
        return f"    {label:<24} n/a   (none{', ' + note if note else ''})"
    p50, p99 = f"p50 {figures['p50']:>7.2f} ms", f"p99 {figures['p99']:>7.2f} ms"
    p50 += f" {_x(figures['ratio']):>7}" if "ratio" in figures else " " * 8
    p99 += f" {_x(figures['ratio_p99']):>7}" if "ratio" in figures else " " * 8
    suffix = f"{figures['count']} {note}".strip()
    return f"    {label:<24} {p50}   {p99}   ({suffix}{' ' + yardstick if yardstick else ''})"


ERROR_LINE_CHARS = 240


def _clip(text: str) -> str:
    """One error on one readable line (a caller's error carries its whole transcript)."""
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_LINE_CHARS else text[:ERROR_LINE_CHARS - 1] + "…"


def _report(figures: dict[str, Any], errors: list[str], carrier_errors) -> str:
    unloaded = figures["unloaded"]
    lines = [
        f"inbound benchmark: {figures['calls']} calls, {figures['agents']} agents, "
        f"{figures['elapsed_seconds']} s of calls, at most {figures['peak_concurrent_calls']} calls at once, "
        f"{figures['database']}",
        f"  {figures['mode']}",
        "  unloaded (idle product, one request at a time; ratio: over the bare route's)",
        _line("bare route GET /ping", unloaded["bare_route"]),
        *(_line(path, unloaded[path]) for path in UNLOADED_PATHS),
        _line("socket echo", unloaded["socket_echo"], "round trips"),
        _line("bare route, paused", unloaded["bare_route_after_pause"],
              f"sent {LISTENING_SECONDS} s after the last request, as the menu answer is"),
        f"    /ivr/menu p50 over the paused bare route's: {_x(unloaded['menu_over_paused_bare_route'])}",
        "  under load, during the calls (ratio: over the bare route's, sent the same way through the run)",
        _line("bare route GET /ping", figures["bare_route_ms"]),
        *(_line(path, values) for path, values in figures["webhooks_ms"].items()),
        _line("IVR webhooks", figures["ivr_webhook_ms"], "/ivr/voice and /ivr/menu"),
        _line("all webhooks", figures["all_webhooks_ms"]),
        "  server side, same calls (the web process's own time per request, from its access log)",
        *(_line(path, values) for path, values in figures.get("server_side_ms", {}).items()),
        "  screen-pop (ratio: over the bare Socket.IO round trip's, the echo event, from the same run)",
        _line("socket echo", figures["socket_echo_ms"], "round trips"),
        _line("screen-pop", figures["screen_pop_ms"], "pops"),
        _line("  during enqueue", figures["screen_pop_during_enqueue_ms"], "enqueue webhook sent -> pop"),
        _line("  after a wait", figures["screen_pop_after_wait_ms"], "reservation -> pop"),
        f"  calls completed          {figures['calls_completed']} of {figures['calls']}",
        "  carrier errors           {total} (webhook timeouts {timeouts}, 11200 {application_11200}, "
        "other {other})".format(**figures["carrier_errors"]),
        *(f"    {_clip(f'{e.code} {e.message}')}" for e in list(carrier_errors)[:5]),
        f"  bench errors             {figures['errors']}",
        *(f"    {_clip(e)}" for e in errors[:10]),
        "  processes                peak RSS   (anonymous)   peak threads   during the calls, of one core: CPU used,"
        " and time waiting for a CPU",
    ]
    for label, entry in figures["processes"].items():
        cpu = (f"{entry['cpu_percent']:.0f}%, waited {entry['cpu_wait_percent']:.0f}%" if "cpu_percent" in entry
               else "(in the line above)")
        count = f" ({entry['processes']} processes)" if entry["processes"] > 1 else ""
        lines.append(f"    {label + count:<24} {entry['peak_rss_mb']:>6.1f} MB  ({entry['peak_anon_mb']:>6.1f} MB)"
                     f"   {entry['peak_threads']:>8}       {cpu}")
    lag = figures["harness_loop_lag_ms"]
    lines += [
        f"  harness CPU              {figures['harness_cpu_percent']:.0f}% of one core "
        f"({figures['harness_cpu_machine_percent']:.0f}% of the machine's {figures['cores']} cores); "
        f"agents' event-loop lag p50 {lag['p50']} ms, p99 {lag['p99']} ms; peak {figures['harness_peak_threads']} "
        f"threads, {figures['harness_peak_rss_mb']:.0f} MB",
        f"  machine CPU busy         {figures['machine_cpu_percent']:.0f}% during the calls (all processes, "
        "other users included)",
    ]
    speed = figures.get("reference_loop_ms")
    if speed:
        lines.append(f"  machine speed            a million additions in Python took {speed['before']} ms before the "
                     f"calls, {speed['after']} ms after (higher: slower; compare runs made at like speeds)")
    return "\n".join(lines)
