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
# Threading mode with simple-websocket: the documented path that needs no monkey patching.
socketio = SocketIO(async_mode="threading")
