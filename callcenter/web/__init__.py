"""Server-rendered edges of the core app: login/logout, the landing redirect, the profile, staffing, the service
desk, /healthz, security headers."""

from __future__ import annotations

from flask import Flask

from callcenter.web import auth, health, ivr_admin, profile, security_headers, staffing, tickets


def init_app(app: Flask) -> None:
    security_headers.init_app(app)
    auth.init_app(app)
    health.init_app(app)
    ivr_admin.init_app(app)
    profile.init_app(app)
    staffing.init_app(app)
    tickets.init_app(app)
