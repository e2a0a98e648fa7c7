"""Settings, read only from the environment and parsed explicitly.

Every setting here is documented in README.md with its default. `create_app(test_config)` may override any key.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be parsed."""


def env_str(name: str, default: str | None = None) -> str | None:
    """Return the variable stripped, or `default` when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool) -> bool:
    """Parse 1/0, true/false, yes/no, on/off (any case)."""
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean (use true or false)")


def _seconds_list(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of whole seconds ("10,60,300"); an unreadable value is a clear start-up error."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"{name} must be comma-separated whole seconds, e.g. 10,60,300 (got {raw!r})") from None
    if any(v < 0 for v in values):
        raise SystemExit(f"{name} must not be negative (got {raw!r})")
    return values


def env_int(name: str, default: int) -> int:
    """Parse a whole number."""
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a whole number") from None


def _hour(name: str, default: int) -> int:
    """An hour of the day, 0 to 23."""
    value = env_int(name, default)
    if not 0 <= value <= 23:
        raise SettingsError(f"{name}={value} is not an hour of the day (0 to 23)")
    return value


def _window(name: str, default: str) -> str:
    """A daily window "HH:MM-HH:MM" (end may be 24:00), checked here so a typo fails at start-up."""
    from callcenter.services.dialing_gate import parse_window

    value = env_str(name, default) or default
    try:
        parse_window(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a window like 08:00-21:00") from None
    return value


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0 (every interface)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def public_host(config: dict[str, Any]) -> str | None:
    """Why other machines may reach this server (HOST or PUBLIC_BASE_URL not loopback), or None when only this
    machine can: the demo's conveniences (emulator by default, caller page without sign-in, demo users) stop there."""
    host = str(config.get("HOST") or "127.0.0.1")
    if not is_loopback(host):
        return f"HOST={host} is not a loopback address"
    url_host = urlsplit(str(config.get("PUBLIC_BASE_URL") or "")).hostname
    if url_host and not is_loopback(url_host):
        return f"PUBLIC_BASE_URL names {url_host}, not a loopback address"
    return None


def default_instance_path() -> Path:
    """Where the SQLite file, the embedded Redis and the generated secret live."""
    return Path(env_str("CALLCENTER_INSTANCE", str(Path.cwd() / "instance")))


def _secret_key(instance_path: Path) -> str:
    """Use SECRET_KEY, else a key generated once and kept in the instance folder (survives restarts)."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def gevent_patched() -> bool:
    """True in a process gevent has monkey-patched (gunicorn's gevent worker does it before loading the app)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("socket"))


def load_settings(instance_path: Path | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment."""
    instance = instance_path or default_instance_path()
    host = env_str("HOST", "127.0.0.1") or "127.0.0.1"
    port = env_int("PORT", 5000)
    local_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    public_base_url = (env_str("PUBLIC_BASE_URL") or f"http://{local_host}:{port}").rstrip("/")
    database_url = env_str("DATABASE_URL")
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": _secret_key(instance),
        "DATABASE_URL": database_url or f"sqlite:///{instance / 'callcenter.sqlite'}",
        "REDIS_URL": env_str("REDIS_URL"),
        "PUBLIC_BASE_URL": public_base_url,
        "TRUST_FORWARDED_HEADERS": env_bool("TRUST_FORWARDED_HEADERS", False),
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", public_base_url.startswith("https://")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", public_base_url.startswith("https://")),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "TWILIO_ACCOUNT_SID": env_str("TWILIO_ACCOUNT_SID"),
        "TWILIO_AUTH_TOKEN": env_str("TWILIO_AUTH_TOKEN"),
        "TWILIO_API_KEY": env_str("TWILIO_API_KEY"),
        "TWILIO_API_SECRET": env_str("TWILIO_API_SECRET"),
        "TWILIO_TWIML_APP_SID": env_str("TWILIO_TWIML_APP_SID"),
        "TWILIO_CALLER_ID": env_str("TWILIO_CALLER_ID"),
        # "auto": Twilio when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set, else the embedded emulator.
        "TELEPHONY_PROVIDER": env_str("TELEPHONY_PROVIDER", "auto"),
        "SIM_ACCOUNT_SID": env_str("SIM_ACCOUNT_SID", "AC" + "0" * 31 + "1"),
        "SIM_AUTH_TOKEN": env_str("SIM_AUTH_TOKEN"),  # default: derived from SECRET_KEY in telephony.init_app
        # The demo lines: the main line and the bilingual (English / 中文) line the demo seed gives a flow.
        "SIM_PHONE_NUMBERS": [n.strip() for n in (env_str("SIM_PHONE_NUMBERS", "+18005550100,+18005550188")
                                                  or "").split(",")],
        "SIM_SPEED": float(env_str("SIM_SPEED", "1") or 1),
        # Where the emulator-mode provider sends Twilio REST calls; default {PUBLIC_BASE_URL}/sim (our own emulator).
        # Point it at a carrier emulator in another process (the benchmark does) to keep it out of this one.
        "SIM_REST_URL": env_str("SIM_REST_URL"),
        # The caller ID of calls we place (callbacks, campaigns); default: Twilio's, else the first emulator number.
        "OUTBOUND_CALLER_ID": env_str("OUTBOUND_CALLER_ID") or env_str("TWILIO_CALLER_ID")
        or (env_str("SIM_PHONE_NUMBERS", "+18005550100") or "").split(",")[0].strip(),
        # Caller IDs agents may choose for their calls (our numbers); the first is the default.
        "CALLER_IDS": [n.strip() for n in (env_str("CALLER_IDS") or env_str("TWILIO_CALLER_ID")
                                           or env_str("SIM_PHONE_NUMBERS", "+18005550100,+18005550188")
                                           or "").split(",")
                       if n.strip()],
        # E-mail to customers (knowledge base articles): with no SMTP_HOST, messages are written as .eml files to
        # <instance>/outbox/ instead. Texts go from OUTBOUND_CALLER_ID.
        "SMTP_HOST": env_str("SMTP_HOST"),
        "SMTP_PORT": env_int("SMTP_PORT", 587),
        "SMTP_USER": env_str("SMTP_USER"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "MAIL_FROM": env_str("MAIL_FROM", "callcenter@localhost"),
        "HOLD_SECONDS": env_int("HOLD_SECONDS", 20),
        "HOLD_MUSIC_URL": env_str("HOLD_MUSIC_URL"),
        "LOGIN_MAX_FAILURES": env_int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_SECONDS": env_int("LOGIN_LOCKOUT_SECONDS", 900),
        "WORKER_TTL_SECONDS": env_int("WORKER_TTL_SECONDS", 30),
        # Run deferred jobs in the process that commits them, right after the commit, instead of on RQ's queues
        # (the test suite does; production leaves it off and runs `callcenter worker`).
        "JOBS_INLINE": env_bool("JOBS_INLINE", False),
        "AGENT_DISCONNECT_GRACE_SECONDS": env_int("AGENT_DISCONNECT_GRACE_SECONDS", 30),
        "AGENT_HEARTBEAT_SECONDS": env_int("AGENT_HEARTBEAT_SECONDS", 5),
        # A console that drops its call leg (reloaded tab) has this long to rejoin before the caller is requeued.
        "AGENT_REJOIN_GRACE_SECONDS": env_int("AGENT_REJOIN_GRACE_SECONDS", 30),
        "AGENT_HEARTBEAT_TIMEOUT_SECONDS": env_int("AGENT_HEARTBEAT_TIMEOUT_SECONDS", 15),
        "OFFER_ACK_SECONDS": float(env_str("OFFER_ACK_SECONDS", "2") or 2),
        "RECONCILE_INTERVAL_SECONDS": env_int("RECONCILE_INTERVAL_SECONDS", 30),
        "DEFAULT_REGION": env_str("DEFAULT_REGION", "US"),
        # The dialing gate (services.dialing_gate): the callee's local hours in which calls may be placed,
        # the countries we may call (toll-fraud guard), calls per person per 24 h, and the lock-out after an
        # abandoned call.
        "DIAL_CALLING_HOURS": _window("DIAL_CALLING_HOURS", "08:00-21:00"),
        "DIAL_ALLOWED_COUNTRIES": [c.strip().upper() for c in (env_str("DIAL_ALLOWED_COUNTRIES", "US,CA,GB,CN")
                                                              or "").split(",") if c.strip()],
        "DIAL_DAILY_CAP": env_int("DIAL_DAILY_CAP", 3),
        "DIAL_ABANDON_LOCKOUT_HOURS": env_int("DIAL_ABANDON_LOCKOUT_HOURS", 72),
        # Reports and wallboard (docs/metrics.md): an abandon shorter than this is a short abandon, reported
        # apart; a call not followed by another from the same contact on the queue within these days resolved.
        "REPORT_SHORT_ABANDON_SECONDS": env_int("REPORT_SHORT_ABANDON_SECONDS", 5),
        "REPORT_FCR_DAYS": env_int("REPORT_FCR_DAYS", 7),
        "TICKET_REOPEN_DAYS": env_int("TICKET_REOPEN_DAYS", 7),
        "TICKET_WARN_AT": float(env_str("TICKET_WARN_AT", "0.8") or 0.8),
        "TICKET_DEFAULT_AGREEMENT": env_str("TICKET_DEFAULT_AGREEMENT"),
        # The dialer (services.dialer): calls placed per second at most, across every process (Twilio's default
        # account limit is 1), how long a campaign call rings, and how long a person who answered waits for an
        # agent before the call counts as abandoned.
        "DIAL_CALLS_PER_SECOND": float(env_str("DIAL_CALLS_PER_SECOND", "1") or 1),
        "DIAL_RING_TIMEOUT_SECONDS": env_int("DIAL_RING_TIMEOUT_SECONDS", 25),
        "CAMPAIGN_CONNECT_SECONDS": float(env_str("CAMPAIGN_CONNECT_SECONDS", "2") or 2),
        # Largest request body accepted anywhere (Flask's MAX_CONTENT_LENGTH); carrier webhooks are a few KB.
        "MAX_REQUEST_BYTES": env_int("MAX_REQUEST_BYTES", 1024 * 1024),
        "SOCKETIO_MESSAGE_QUEUE": env_bool("SOCKETIO_MESSAGE_QUEUE", True),
        # gevent where the process is patched (the web server), threading elsewhere (worker, CLI, tests).
        "SOCKETIO_ASYNC_MODE": "gevent" if gevent_patched() else "threading",
        # PostgreSQL: whether a carrier webhook's commits (and its screen-pop's) wait until their WAL is on disk. Off
        # by default: a stalled disk flush held every webhook committing meanwhile (db.asynchronous_commit).
        "WEBHOOK_SYNCHRONOUS_COMMIT": env_bool("WEBHOOK_SYNCHRONOUS_COMMIT", False),
        # Database connections per process: under gevent many requests run at once, each holding one briefly.
        # SQLite connections cost little; a PostgreSQL server has ~100 in all for every process.
        "DATABASE_POOL_SIZE": env_int("DATABASE_POOL_SIZE", (20 if database_url else 40) if gevent_patched() else 10),
        # Backups: `callcenter backup` writes to BACKUP_DIR; the worker's daily job (BACKUP_DAILY) runs once a day
        # after BACKUP_HOUR (server local time) and keeps the newest BACKUP_KEEP of its files. With
        # BACKUP_PASSPHRASE set, backups are encrypted and restores ask for it.
        "BACKUP_DIR": env_str("BACKUP_DIR", str(instance / "backups")),
        "BACKUP_DAILY": env_bool("BACKUP_DAILY", True),
        "BACKUP_HOUR": _hour("BACKUP_HOUR", 3),
        "BACKUP_KEEP": env_int("BACKUP_KEEP", 14),
        "BACKUP_PASSPHRASE": os.environ.get("BACKUP_PASSPHRASE") or None,
        # Outbound webhooks (docs/webhooks.md): seconds before each retry of a delivery the receiver did not accept
        # (comma-separated; one try more than there are numbers), and how long one attempt may take.
        "WEBHOOK_RETRY_SECONDS": _seconds_list("WEBHOOK_RETRY_SECONDS", (10, 60, 300, 1800, 7200)),
        "WEBHOOK_TIMEOUT_SECONDS": env_int("WEBHOOK_TIMEOUT_SECONDS", 10),
        "HOST": host,
        "PORT": port,
        # gevent web worker processes; one when the emulator runs inside the web process (its calls live there).
        "WEB_PROCESSES": env_int("WEB_PROCESSES", 1),
        "WEB_CONNECTIONS": env_int("WEB_CONNECTIONS", 2000),
        # A file for gunicorn's access log (path, status, microseconds per request); none by default.
        "WEB_ACCESS_LOG": os.environ.get("WEB_ACCESS_LOG") or None,
        # Demo data (with known passwords) only by default for the embedded database, never silently in production.
        "SEED_DEMO": env_bool("SEED_DEMO", database_url is None),
        "TESTING": False,
    }
