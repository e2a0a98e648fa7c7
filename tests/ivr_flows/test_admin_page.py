"""The admin page: admins upload and edit flows and see every problem next to its node; others get 403."""

from __future__ import annotations

import html as html_lib
import io
import re

import yaml
from sqlalchemy import select

from callcenter.models import IvrFlow
from callcenter.services import ivr_flows

BROKEN = """
number: "+18005550100"
start: main
nodes:
  main:
    prompt: "Press 1 for sales."
    choices:
      - {key: "1", queue: Salez}
      - {key: "1", goto: nowhere}
    default: {queue: Support}
  orphan:
    prompt: "Nobody gets here."
    choices: [{key: "1", queue: Sales}]
    default: {action: hangup}
"""


def problems_in(html: str) -> dict[str, str]:
    """path -> message of each listed problem (the page marks them with data-path)."""
    found = re.findall(r'<li class="problem" data-path="([^"]*)">(.*?)</li>', html, flags=re.S)
    return {html_lib.unescape(path): html_lib.unescape(re.sub(r"<[^>]+>|\s+", " ", text)).strip()
            for path, text in found}


def upload(client, text: str, filename: str):
    return client.post("/admin/ivr/upload", data={"file": (io.BytesIO(text.encode()), filename)},
                       content_type="multipart/form-data")


def test_admin_uploads_a_file_and_gets_the_flow(client, auth, factory, queues, session, default_flow):
    factory.user(role="admin", username="root")
    auth.login("root")

    response = upload(client, ivr_flows.dump_definition(default_flow, "json"), "main.json")

    assert response.status_code == 302
    flow = session.scalar(select(IvrFlow))
    assert response.headers["Location"].endswith(f"/admin/ivr/{flow.id}")
    assert (flow.phone_number, flow.version, flow.updated_by.username) == ("+18005550100", 1, "root")
    listing = client.get("/admin/ivr/")
    assert listing.status_code == 200 and b'data-number="+18005550100"' in listing.data


def test_admin_sees_every_problem_of_an_upload_grouped_by_node(client, auth, factory, queues, session):
    factory.user(role="admin", username="root")
    auth.login("root")

    response = upload(client, BROKEN, "broken.yaml")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert problems_in(html) == {
        "nodes.main.choices[0].queue": "nodes.main.choices[0].queue : unknown queue 'Salez' (known queues: Billing, "
                                       "Sales, Support)",
        "nodes.main.choices[1].key": "nodes.main.choices[1].key : duplicate key '1' (also used by choices[0])",
        "nodes.main.choices[1].goto": "nodes.main.choices[1].goto : goto node 'nowhere' does not exist (nodes: main, "
                                      "orphan)",
        "nodes.orphan": "nodes.orphan : unreachable node: no choice or default leads here from 'main'",
    }
    assert "Node <code>main</code>" in html and "Node <code>orphan</code>" in html
    assert session.scalar(select(IvrFlow)) is None


def test_a_syntax_error_names_the_line(client, auth, factory, queues):
    factory.user(role="admin", username="root")
    auth.login("root")

    response = upload(client, '{"number": "+18005550100",\n "start": }', "flow.json")

    assert response.status_code == 422
    assert list(problems_in(response.get_data(as_text=True)).values()) == [
        "file : Invalid JSON at line 2, column 11: Expecting value"]


def test_admin_edits_in_the_textarea(client, auth, factory, queues, session, default_flow):
    admin = factory.user(role="admin", username="root")
    flow = ivr_flows.save_flow(session, admin.id, default_flow)
    session.commit()
    auth.login("root")

    page = client.get(f"/admin/ivr/{flow.id}")
    assert page.status_code == 200
    text = re.search(r"<textarea[^>]*>(.*?)</textarea>", page.get_data(as_text=True), flags=re.S).group(1)
    edited = yaml.safe_load(html_lib.unescape(text))
    assert edited == flow.definition

    edited["nodes"]["main"]["prompt"] = "New prompt."
    saved = client.post(f"/admin/ivr/{flow.id}", data={"format": "yaml", "definition": yaml.safe_dump(edited)})
    assert saved.status_code == 302
    session.expire_all()
    assert (flow.version, flow.definition["nodes"]["main"]["prompt"]) == (2, "New prompt.")

    edited["nodes"]["main"]["default"] = {"goto": "nowhere"}
    refused = client.post(f"/admin/ivr/{flow.id}", data={"format": "yaml", "definition": yaml.safe_dump(edited)})
    assert refused.status_code == 422
    assert list(problems_in(refused.get_data(as_text=True))) == ["nodes.main.default.goto"]
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    session.expire_all()
    assert flow.version == 2


def test_admin_toggles_and_exports(client, auth, factory, queues, session, default_flow):
    factory.user(role="admin", username="root")
    flow = ivr_flows.save_flow(session, None, default_flow)
    session.commit()
    auth.login("root")

    assert client.post(f"/admin/ivr/{flow.id}/active").status_code == 302
    session.expire_all()
    assert flow.active is False

    exported = client.get(f"/admin/ivr/{flow.id}/export?format=json")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert exported.json == flow.definition
    assert client.get("/admin/ivr/999/export").status_code == 404


def test_agents_and_supervisors_get_403_and_strangers_the_login_page(client, auth, factory):
    factory.user(role="agent", username="alice")
    assert client.get("/admin/ivr/").status_code == 302  # not signed in
    auth.login("alice")
    assert client.get("/admin/ivr/").status_code == 403
    assert upload(client, "number: x", "x.yaml").status_code == 403
    auth.logout()
    factory.user(role="supervisor", username="sam")
    auth.login("sam")
    assert client.get("/admin/ivr/new").status_code == 403


def test_uploads_need_the_csrf_token(app, client, auth, factory, queues, session, default_flow):
    factory.user(role="admin", username="root")
    auth.login("root")
    app.config["WTF_CSRF_ENABLED"] = True

    response = upload(client, ivr_flows.dump_definition(default_flow), "main.yaml")

    assert response.status_code == 400 and b"CSRF" in response.data
    assert session.scalar(select(IvrFlow)) is None


def test_admin_writes_a_new_flow_from_the_example(client, auth, factory, queues, session):
    factory.user(role="admin", username="root")
    auth.login("root")
    page = client.get("/admin/ivr/new")
    assert page.status_code == 200
    example = html_lib.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", page.get_data(as_text=True),
                                          flags=re.S).group(1))
    example = example.replace('"+18005550100"', '"+18005550123"')

    created = client.post("/admin/ivr/new", data={"format": "yaml", "definition": example})

    assert created.status_code == 302
    assert session.scalar(select(IvrFlow.phone_number)) == "+18005550123"



def test_flow_problems_are_shown_in_the_admins_language(client, auth, factory, queues, session):
    chinese = factory.user(role="admin", username="wang")
    chinese.language = "zh_Hans"
    factory.user(role="admin", username="root")
    session.commit()

    auth.login("wang")
    shown = problems_in(upload(client, BROKEN, "broken.yaml").get_data(as_text=True))
    key, queue = "nodes.main.choices[1].key", "nodes.main.choices[0].queue"
    assert shown[key] == f"{key} : 按键 '1' 重复（choices[0] 已使用）"
    assert shown[queue] == f"{queue} : 未知队列 'Salez'（现有队列：Billing, Sales, Support）"
    assert shown["nodes.orphan"] == "nodes.orphan : 无法到达的节点：从 'main' 出发没有任何选项或默认去向通往此处"
    auth.logout()

    auth.login("root")
    shown = problems_in(upload(client, BROKEN, "broken.yaml").get_data(as_text=True))
    assert shown[key] == f"{key} : duplicate key '1' (also used by choices[0])"


def test_a_flow_validation_error_message_reads_in_the_readers_language(app):
    """The summary the API and logs carry nests every problem; the edge translates all of them at once."""
    from flask_babel import force_locale

    from callcenter.i18n import translate

    failed = ivr_flows.FlowValidationFailed([
        ivr_flows.FlowProblem("start", ivr_flows.t("choices must be a list")),
        ivr_flows.FlowProblem("", ivr_flows.t("a menu needs at least one choice"))])
    assert str(failed.message) == ("The flow has 2 problems: start: choices must be a list; "
                                   "a menu needs at least one choice")
    with app.test_request_context(), force_locale("zh_Hans"):
        assert translate(failed.message) == "流程有 2 个问题：start：choices 必须是列表\uff1b菜单至少需要一个选项"
