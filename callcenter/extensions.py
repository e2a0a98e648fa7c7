"""Extensions, created unbound here and bound to an app in `create_app` with `init_app`."""

from __future__ import annotations

from flask_login import LoginManager
from flask_smorest import Api
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

from callcenter.db import Database

db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
api = Api()
# The async mode is chosen in create_app: gevent in the web server (gunicorn's gevent worker has patched the
# process), threading in the worker, the CLI and tests.
socketio = SocketIO()
