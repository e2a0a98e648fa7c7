"""Browser scenarios: the real app served over HTTP on a free port, the emulated carrier talking to it over HTTP,
and headless Chromium (Debian's /usr/bin/chromium) driven by Playwright. Any browser console error or uncaught
page error fails the test; every page's last screenshot is kept in test-artifacts/."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from callcenter.models import Disposition
from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.testing import strict_carrier
from tests.support.servers import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NUMBER = "+18005550100"
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path) -> str:
    """One backend is enough here: the browser tests exercise the pages, the services run on both elsewhere."""
    import shutil

    target = tmp_path / "callcenter.sqlite"
    shutil.copy(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def app_config(app_config, port):
    app_config.pop("SERVER_NAME", None)
    app_config.update(
        TESTING=False, WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TELEPHONY_PROVIDER="sim", SIM_SPEED=20, HOLD_SECONDS=3, SIM_PHONE_NUMBERS=[NUMBER],
        OUTBOUND_CALLER_ID=NUMBER, OFFER_ACK_SECONDS=5,
    )
    return app_config


@pytest.fixture
def app(app_config):
    """The app as production runs it: unlike the shared fixture, socket events are not patched (they arrive on
    server threads, outside the test's app context)."""
    from callcenter import create_app
    from callcenter.extensions import db

    application = create_app(app_config)
    with application.app_context():
        yield application
        db.session.remove()
    db.engine.dispose()


@pytest.fixture
def live_server(app, port) -> Iterator[str]:
    """The app (with its Socket.IO middleware) on a threaded werkzeug server, plus the housekeeping ticker."""
    from workers.ticker import Ticker

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    ticker = Ticker(app).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        ticker.stop()
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def carrier(app, live_server):
    with strict_carrier(get_carrier(app)) as sim:
        yield sim


@pytest.fixture
def dispositions(session):
    for code, label in (("resolved", "Resolved"), ("follow_up", "Needs follow-up"), ("sale", "Sale")):
        if session.scalar(select(Disposition).where(Disposition.code == code)) is None:
            session.add(Disposition(code=code, label=label))
    session.commit()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu",
                                                           "--disable-background-networking"])
        yield browser
        browser.close()


class PageErrors:
    """Console errors and uncaught exceptions of every page opened in a test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[str] = []  # patterns of errors a test provokes on purpose (open_page.expect_error)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(pattern, e) for pattern in self.expected)]

    def watch(self, page: Page, name: str) -> None:
        def on_console(msg) -> None:
            if msg.type == "error":
                self.errors.append(f"[{name}] console.error: {msg.text} ({msg.location.get('url', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"[{name}] page error: {exc}"))


@pytest.fixture
def open_page(browser, live_server, request):
    """`open_page(name)` -> a fresh browser context (own cookies) and page at 1366x768, watched for errors."""
    errors = PageErrors()
    opened: list[tuple[str, Page]] = []
    contexts = []

    def open_(name: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors.watch(page, name)
        opened.append((name, page))
        return page

    open_.expect_error = errors.expected.append  # e.g. the browser's own log line for a refused request
    yield open_
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for name, page in opened:
        if not page.is_closed():
            page.screenshot(path=str(ARTIFACTS / f"{test_name}-{name}-final.png"))
    for context in contexts:
        context.close()
    assert not errors.unexpected(), "browser console errors:\n" + "\n".join(errors.unexpected())


def shot(page: Page, request, step: str) -> None:
    """Keep a screenshot of a step of the scenario."""
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    page.screenshot(path=str(ARTIFACTS / f"{test_name}-{step}.png"))


def login(page: Page, username: str, password: str = "password123") -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
