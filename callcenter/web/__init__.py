"""Server-rendered edges of the core app: login/logout, the landing redirect, the profile, staffing, the service
desk, the back office (call log, audit log, system status), /healthz, security headers."""

from __future__ import annotations

from flask import Flask

from callcenter.web import (
    admin_people,
    admin_routing,
    audit,
    auth,
    call_log,
    callbacks,
    campaigns,
    data_quality,
    health,
    ivr_admin,
    knowledge_base,
    profile,
    recordings,
    reports,
    security_headers,
    staffing,
    system_status,
    tickets,
)


def init_app(app: Flask) -> None:
    security_headers.init_app(app)
    auth.init_app(app)
    health.init_app(app)
    ivr_admin.init_app(app)
    admin_routing.init_app(app)
    profile.init_app(app)
    staffing.init_app(app)
    audit.init_app(app)
    call_log.init_app(app)
    system_status.init_app(app)
    campaigns.init_app(app)
    data_quality.init_app(app)
    knowledge_base.init_app(app)
    tickets.init_app(app)
    admin_people.init_app(app)
    callbacks.init_app(app)
    reports.init_app(app)
    recordings.init_app(app)
