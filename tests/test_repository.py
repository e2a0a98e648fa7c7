"""The suite is self-contained: what it reads lives in the repository, with its licence."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.contracts import TWILIO_OAI

TESTS = Path(__file__).resolve().parent


def test_no_test_reads_a_file_outside_the_repository():
    offenders = [str(path.relative_to(TESTS)) for path in TESTS.rglob("*.py")
                 if path.name != "test_repository.py" and "/work/shared" in path.read_text()]
    assert offenders == []


def test_twilio_openapi_document_is_vendored_with_its_licence():
    assert TWILIO_OAI.is_relative_to(TESTS)
    assert json.loads(TWILIO_OAI.read_text())["openapi"].startswith("3.")
    assert "MIT License" in (TWILIO_OAI.parent / "LICENSE").read_text()
