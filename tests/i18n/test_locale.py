"""The reader's locale: chosen on the profile page or by an admin, else the browser's, and what it formats."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from flask import request
from flask_babel import force_locale
from flask_login import login_user

from callcenter.i18n import format_duration, format_number, format_when, language_name, negotiate_language
from callcenter.models import User

WHEN = datetime(2026, 3, 5, 14, 7, tzinfo=UTC)


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
    ("zh", "zh_Hans"),
    ("zh-Hans-CN", "zh_Hans"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR,zh-CN;q=0.5", "zh_Hans"),
    ("zh-TW,en;q=0.5", "en"),
    ("de", "en"),
    ("", "en"),
])
def test_the_browser_language_picks_the_best_supported_locale(app, client, header, expected):
    headers = {"Accept-Language": header} if header else {}
    with app.test_request_context("/", headers=headers):
        assert negotiate_language([value for value, _q in request.accept_languages]) == expected
    page = client.get("/login", headers=headers)
    assert f'<html lang="{expected.replace("_", "-")}">'.encode() in page.data


def test_login_page_follows_the_browser(client):
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    english = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "<h1>登录</h1>" in chinese and "用户名" in chinese
    assert "<h1>Sign in</h1>" in english and "Username" in english


def test_dates_durations_and_numbers_follow_the_locale(app):
    with app.test_request_context("/"):
        with force_locale("en"):
            assert format_when(WHEN) == "Mar 5, 2026, 2:07:00\u202fPM"
            assert format_duration(125) == "2 minutes"
            assert format_duration(3) == "3 seconds"
            assert format_number(1234567.5) == "1,234,567.5"
            assert language_name("zh_Hans") == "Chinese (Simplified)"
        with force_locale("zh_Hans"):
            assert format_when(WHEN) == "2026年3月5日 14:07:00"
            assert format_duration(125) == "2分钟"
            assert format_duration(3) == "3秒钟"
            assert format_number(1234567.5) == "1,234,567.5"
            assert language_name("en") == "英语"


def test_dates_are_shown_in_the_users_time_zone(app, factory, session):
    user = factory.user(username="li")
    user.language, user.time_zone = "zh_Hans", "Asia/Shanghai"
    session.commit()
    with app.test_request_context("/"):
        login_user(session.get(User, user.id))
        assert format_when(WHEN) == "2026年3月5日 22:07:00"  # UTC+8, in Chinese


def test_a_user_chooses_language_and_time_zone_on_the_profile_page(client, auth, factory, session):
    user = factory.user(username="li")
    auth.login("li")
    page = client.get("/profile", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and b"Time zone" in page.data

    saved = client.post("/profile", data={"language": "zh_Hans", "time_zone": "Asia/Shanghai"},
                        headers={"Accept-Language": "en"}, follow_redirects=True)
    assert saved.status_code == 200
    assert "您的语言和时区已保存。" in saved.get_data(as_text=True)  # already in the new language
    session.refresh(user)
    assert (user.language, user.time_zone) == ("zh_Hans", "Asia/Shanghai")
    # The choice beats the browser's.
    assert "坐席工作台" in client.get("/console", headers={"Accept-Language": "en"}).get_data(as_text=True)


@pytest.mark.parametrize(("field", "value"), [("language", "fr"), ("time_zone", "Mars/Olympus_Mons")])
def test_the_profile_page_refuses_unknown_values(client, auth, factory, session, field, value):
    user = factory.user(username="li")
    auth.login("li")
    data = {"language": "", "time_zone": ""} | {field: value}
    refused = client.post("/profile", data=data, headers={"Accept-Language": "en"})
    assert refused.status_code == 422
    assert value in refused.get_data(as_text=True)
    session.refresh(user)
    assert (user.language, user.time_zone) == (None, None)


def test_an_admin_sets_a_users_locale_through_the_api(client, auth, factory):
    factory.user(role="admin", username="root")
    agent = factory.user(username="li")
    auth.login("root")
    changed = client.patch(f"/api/v1/users/{agent.id}", json={"language": "zh_Hans", "time_zone": "Asia/Shanghai"})
    assert changed.status_code == 200
    assert (changed.json["language"], changed.json["time_zone"]) == ("zh_Hans", "Asia/Shanghai")
    reset = client.patch(f"/api/v1/users/{agent.id}", json={"language": None})
    assert reset.status_code == 200 and reset.json["language"] is None


@pytest.mark.parametrize(("body", "field"), [({"language": "klingon"}, "language"),
                                             ({"time_zone": "Europe/Atlantis"}, "time_zone")])
def test_the_api_refuses_an_unknown_locale_with_a_message_in_the_readers_language(client, auth, factory, body,
                                                                                   field):
    factory.user(role="admin", username="root")
    agent = factory.user(username="li")
    auth.login("root")
    english = client.patch(f"/api/v1/users/{agent.id}", json=body, headers={"Accept-Language": "en"})
    chinese = client.patch(f"/api/v1/users/{agent.id}", json=body, headers={"Accept-Language": "zh-CN"})
    assert english.status_code == chinese.status_code == 422
    assert english.json["field"] == chinese.json["field"] == field  # machine-readable parts stay the same
    assert english.json["message"].startswith("Unknown")
    assert chinese.json["message"].startswith("未知的")


def test_only_admins_set_someone_elses_locale(client, auth, factory):
    factory.user(username="li")
    other = factory.user(username="wang")
    auth.login("li")
    refused = client.patch(f"/api/v1/users/{other.id}", json={"language": "zh_Hans"},
                           headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 403
    assert refused.json["message"] == "只有管理员可以修改用户"


def test_the_console_embeds_the_js_catalogue_of_the_users_language(client, auth, factory, session):
    user = factory.user(username="li")
    user.language, user.time_zone = "zh_Hans", "Asia/Shanghai"
    session.commit()
    auth.login("li")
    page = client.get("/console").get_data(as_text=True)
    data = json.loads(re.search(r'<script id="i18n" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data["locale"] == "zh-Hans" and data["timeZone"] == "Asia/Shanghai"
    assert data["messages"]["Softphone ready"] == "软电话就绪"
    assert "Sign in" not in data["messages"]  # only what the scripts use


def test_form_validation_errors_are_in_the_readers_language(client, auth, factory):
    factory.user(role="admin", username="root")
    auth.login("root")
    refused = client.post("/admin/ivr/new", data={"format": "yaml", "definition": ""},
                          headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 400
    assert '<p class="field-error">定义为空</p>' in refused.get_data(as_text=True)


def test_catalogues_compile_under_the_instance_folder_when_the_package_is_read_only(app, tmp_path, monkeypatch):
    import shutil

    from flask_babel import gettext

    from callcenter import i18n

    source = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS, source, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n.os, "access", lambda path, mode: False)  # as a non-root user in site-packages
    with app.app_context():
        target = i18n.compile_catalogues(source)
    assert target == tmp_path / "instance" / "translations"
    assert (target / "zh_Hans" / "LC_MESSAGES" / "messages.mo").is_file()
    assert not list(source.rglob("*.mo"))
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert gettext("Sign in") == "登录"


def test_the_emulators_caller_page_speaks_the_readers_language(app, client, auth, factory, session):
    from callcenter.extensions import socketio

    user = factory.user(username="li")
    user.language = "zh_Hans"
    session.commit()
    auth.login("li")
    page = client.get("/sim/caller").get_data(as_text=True)
    data = json.loads(re.search(r'<script id="i18n" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data["locale"] == "zh-Hans"
    assert data["messages"]["you pressed %(digit)s"] == "您按了 %(digit)s"
    assert data["messages"]["in progress"] == "通话中"
    # caller.js uses the console's `_()`: common.js comes before it.
    assert page.index("/agent-ui/static/common.js") < page.index("caller.js")

    sock = socketio.test_client(app, namespace="/sim", flask_test_client=client)
    refused = sock.emit("caller_dial", {"from": " ", "to": "+18005550100"}, namespace="/sim", callback=True)
    assert refused == {"ok": False, "message": "请输入您的主叫号码"}
    sock.disconnect(namespace="/sim")
