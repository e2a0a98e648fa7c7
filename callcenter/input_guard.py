"""Input the database would refuse (NUL characters, lone surrogates) answered with a 400 before any view runs.

One check for every edge: path, query string, form fields and JSON body (keys included) of every request, pages
and API alike. Webhooks are checked by their own guard after the carrier's signature (ivr/guard.py), so an
unsigned request still gets its 403. Lengths and number ranges depend on the column and are checked on every
flush (callcenter/services/storable.py). A DataError that still reaches a handler is a 400, never a 500.
"""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

from flask import Flask, Request, Response, request
from sqlalchemy.exc import DataError
from werkzeug.datastructures import MultiDict

from callcenter.extensions import db
from callcenter.services.storable import find_problem, text_problem

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"  # as callcenter.api.errors.API_PREFIX (not imported: the API imports this module's users)

# Blueprints that check the input themselves, after authenticating the sender.
CHECKED_BY_THEIR_GUARD = frozenset({"ivr"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def request_problem(req: Request) -> tuple[str, str] | None:
    """(field, reason) for the first value of the request the database could not store, or None."""
    with_form = req.mimetype in FORM_TYPES and not _is_api(req.path)  # the API takes JSON only (a 415 says so)
    fields = [req.args, req.form] if with_form else [req.args]
    if not req.view_args and not req.is_json and text_problem(_joined(*fields)) is None:
        return None  # all checked as one text; a value found wrong is looked for below, to name its field
    sources: list[tuple[str, Any]] = [("", req.view_args or {}), ("", req.args.to_dict(flat=False))]
    if with_form:
        sources.append(("", req.form.to_dict(flat=False)))
    if req.is_json:
        sources.append(("", req.get_json(silent=True)))
    for prefix, values in sources:
        found = find_problem(values, prefix)
        if found:
            field, reason = found
            # to_dict(flat=False) lists every value of a field; the field's name is what a person needs.
            name = field.rsplit(".", 1)[0] if field.rsplit(".", 1)[-1].isdigit() and "." in field else field
            return name, reason
    return None


def _joined(*fields: MultiDict[str, str]) -> str:
    """Every name and value of `fields` in one string: NUL or a lone surrogate in any of them is in it."""
    return "".join(chain.from_iterable(chain.from_iterable(each.items(multi=True) for each in fields)))


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def refusal(field: str, reason: str) -> Response:
    """The 400 for a refused value: the API's JSON error shape under /api/v1, plain text elsewhere."""
    from callcenter.api.errors import error_response

    message = f"{field} {reason}" if field else f"The request {reason}"
    if _is_api(request.path):
        return error_response(400, message, field or None, {field: [reason]} if field else None)
    return Response(message, status=400, mimetype="text/plain")


def _check_request() -> Response | None:
    if request.blueprint in CHECKED_BY_THEIR_GUARD:
        return None
    found = request_problem(request)
    if found is None:
        return None
    log.info("refused %s %s: %s %s", request.method, request.path, *found)
    return refusal(*found)


def handle_data_error(error: DataError) -> Response:
    """The database refused a value no check caught (the transaction is rolled back): the client's 400."""
    db.session.rollback()
    log.warning("database refused a value in %s %s: %s", request.method, request.path,
                str(error.orig).splitlines()[0] if error.orig else error)
    return refusal("", "contains a value the database cannot store")


def init_app(app: Flask) -> None:
    app.before_request(_check_request)
    app.register_error_handler(DataError, handle_data_error)
