"""`callcenter ivr import/export/check/list`: files in, files out, the same validation as the admin page."""

from __future__ import annotations

import json

from sqlalchemy import select

from callcenter.cli import main
from callcenter.models import IvrFlow
from callcenter.services import ivr_flows


def test_import_export_round_trip(runner, session, queues, tmp_path):
    source = tmp_path / "main.yaml"
    source.write_text(ivr_flows.DEFAULT_FLOW_FILE.read_text())

    imported = runner.invoke(main, ["ivr", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "Imported 'Main line' for +18005550100, version 1." in imported.output

    exported = runner.invoke(main, ["ivr", "export", "(800) 555-0100"])
    assert exported.exit_code == 0, exported.output
    copy = tmp_path / "copy.yaml"
    copy.write_text(exported.output)

    again = runner.invoke(main, ["ivr", "import", str(copy)])
    assert again.exit_code == 0 and "version 2" in again.output
    flow = session.scalar(select(IvrFlow))
    assert flow.definition == ivr_flows.parse_definition(exported.output, "yaml")
    assert flow.definition == ivr_flows.normalise(ivr_flows.parse_definition(source.read_text(), "yaml"))

    as_json = tmp_path / "main.json"
    written = runner.invoke(main, ["ivr", "export", "+18005550100", "--format", "json", "-o", str(as_json)])
    assert written.exit_code == 0
    assert json.loads(as_json.read_text()) == flow.definition

    listed = runner.invoke(main, ["ivr", "list"])
    assert listed.output.split("\t") == ["+18005550100", "Main line", "v2", "active\n"]


def test_import_reports_every_problem_and_stores_nothing(runner, session, queues, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"number": "+18005550100", "start": "main", "nodes": {"main": {
        "prompt": "Hi", "choices": [{"key": "1", "queue": "Nowhere"}]}}}))

    result = runner.invoke(main, ["ivr", "import", str(broken)])

    assert result.exit_code == 1
    assert "The flow has 2 problem(s):" in result.output
    assert "nodes.main.choices[0].queue: unknown queue 'Nowhere'" in result.output
    assert "nodes.main.default: default is required" in result.output
    assert session.scalar(select(IvrFlow)) is None
    checked = runner.invoke(main, ["ivr", "check", str(broken)])
    assert checked.exit_code == 1 and "unknown queue 'Nowhere'" in checked.output


def test_check_accepts_a_good_file_and_export_refuses_an_unknown_number(runner, queues, tmp_path):
    good = tmp_path / "flow.yml"
    good.write_text(ivr_flows.DEFAULT_FLOW_FILE.read_text())
    assert runner.invoke(main, ["ivr", "check", str(good)]).exit_code == 0

    missing = runner.invoke(main, ["ivr", "export", "+18005550199"])
    assert missing.exit_code == 1 and "No IVR flow for +18005550199." in missing.output
    bad_syntax = tmp_path / "bad.yaml"
    bad_syntax.write_text("number: [\n")
    result = runner.invoke(main, ["ivr", "import", str(bad_syntax)])
    assert result.exit_code == 1 and "Invalid YAML at line 2" in result.output
