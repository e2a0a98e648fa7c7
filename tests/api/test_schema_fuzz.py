"""Schemathesis against the served OpenAPI document, in-process (WSGI), signed in as an admin so routes really run.

Every operation the document lists gets generated requests (valid and invalid ones); each answer must not be a
5xx and must match what the document says: status code, content type, body schema, headers; all of Schemathesis's
checks run (one adjusted: see `positive_data_accepted`).

On both databases, the documented examples, the coverage phase (each boundary and each way to break each keyword
the document uses, such as ids at 2**31 - 1 and beyond: about 1,900 requests) and random fuzzing, which is what
sends NUL characters and odd Unicode to the driver. Both files of fuzz tests take about 45 s on 2 idle cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import positive_data_acceptance

from callcenter.services.storable import find_problem

OPENAPI_PATH = "/api/v1/openapi.json"
FUZZ_EXAMPLES = 10  # random requests per operation (Hypothesis's max_examples), on top of the coverage phase


@pytest.fixture
def api_schema(app: Flask, factory):
    """The document as the app serves it, calling the app in-process, over a small data set to find."""
    factory.contact(phones=("+14155550123",), first_name="Ada", last_name="Lovelace")
    factory.account(name="Analytical Engines")

    def own_app_context(environ, start_response):
        # As in production: each request has an app context of its own (a fresh `g`, the session removed at its
        # end), though the test keeps one pushed for its whole length.
        with app.app_context():
            return list(app.wsgi_app(environ, start_response))

    return schemathesis.openapi.from_wsgi(OPENAPI_PATH, own_app_context)


schema = schemathesis.pytest.from_fixture("api_schema")


def positive_data_accepted(ctx: CheckContext, response, case: schemathesis.Case) -> bool | None:
    """Schemathesis's positive_data_acceptance (a request the document calls valid is not refused as malformed),
    except where the document cannot say it all:

    - a NUL character or a lone surrogate fits `type: string`, yet every edge refuses it with a 400 naming the
      field (callcenter/input_guard.py, tests/api/test_refused_input.py); they are still generated, so the
      PostgreSQL run proves they never reach the driver as a 500;
    - 422 is a well-formed request the domain refuses: a phone number no country uses, an owner_id naming no
      user, a time zone that does not exist (status_code_conformance still checks the operation documents 422)."""
    values = [case.body, case.query, case.path_parameters]
    if response.status_code == 422 or find_problem([v for v in values if v is not None]):
        return None
    return positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_as_documented(case, admin_headers):
    case.call_and_validate(headers=admin_headers, excluded_checks=[positive_data_acceptance],
                           additional_checks=[positive_data_accepted])
