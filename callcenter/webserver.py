"""The production web server: gunicorn's threaded worker serving the Flask-SocketIO app.

Flask-SocketIO's threading mode (with simple-websocket) runs under gunicorn as one worker process with many
threads; several web processes scale out behind a load balancer with sticky sessions and the Redis message queue.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class WebServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Built in the worker process, after fork, so no connection is shared across processes.
        from callcenter import create_app

        return create_app()


def serve(host: str, port: int, threads: int) -> None:
    WebServer(
        {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": None,
            "errorlog": "-",
            "control_socket_disable": True,  # several instances on one machine must not fight over it
        }
    ).run()
