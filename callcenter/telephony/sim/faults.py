"""Fault knobs: the real network's misbehaviour, on demand, so tests prove the product survives it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What the carrier should get wrong. Set attributes or call the helpers; `reset()` clears everything.

    - `duplicate_status_callbacks`: every call-progress callback is delivered this many extra times.
    - `reorder_status_callbacks`: a call's callbacks are held back and delivered newest first when it ends
      (so `completed` arrives before `ringing`), as Twilio's unordered delivery can.
    - `delays`: URL substring -> seconds (real seconds, not divided by speed) to wait before a webhook.
    - `failures`: URL substring -> how many more requests to fail with HTTP 500 (None: all of them).
    - `drop_leg(call_sid)`: that call vanishes without status callbacks, like a lost carrier leg.
    """

    duplicate_status_callbacks: int = 0
    reorder_status_callbacks: bool = False
    delays: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _drop_requests: list[str] = field(default_factory=list, repr=False)
    _drop_handler: object = field(default=None, repr=False)

    def delay(self, url_part: str, seconds: float) -> None:
        """Hold every webhook whose URL contains `url_part` for `seconds` before sending it."""
        with self._lock:
            self.delays[url_part] = seconds

    def fail(self, url_part: str, times: int | None = None) -> None:
        """Answer the next `times` webhooks whose URL contains `url_part` with a 500 (None: always)."""
        with self._lock:
            self.failures[url_part] = times

    def drop_leg(self, call_sid: str) -> None:
        """Make the call vanish now: no more webhooks, no status callbacks, its peers see it gone."""
        handler = self._drop_handler
        if handler is None:
            raise RuntimeError("these faults are not attached to a carrier")
        handler(call_sid)  # type: ignore[operator]

    def reset(self) -> None:
        """Back to a well-behaved network."""
        with self._lock:
            self.duplicate_status_callbacks = 0
            self.reorder_status_callbacks = False
            self.delays.clear()
            self.failures.clear()

    def delay_for(self, url: str) -> float:
        """Seconds to hold a webhook to `url`."""
        with self._lock:
            return max((s for part, s in self.delays.items() if part in url), default=0.0)

    def should_fail(self, url: str) -> bool:
        """Whether this webhook is to be failed with a 500 (consumes one from a counted failure)."""
        with self._lock:
            for part, remaining in self.failures.items():
                if part in url:
                    if remaining is None:
                        return True
                    if remaining > 0:
                        self.failures[part] = remaining - 1
                        return True
            return False
