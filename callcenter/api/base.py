"""How an API resource blueprint is made: under /api/v1, JSON errors, authentication required."""

from __future__ import annotations

from flask_smorest import Blueprint

from callcenter.api import auth, errors
from callcenter.api.errors import API_PREFIX


def resource_blueprint(name: str, import_name: str, path: str, description: str) -> Blueprint:
    """A flask-smorest blueprint at /api/v1<path>, named `api_<name>` (its tag in the OpenAPI document)."""
    blueprint = Blueprint(f"api_{name}", import_name, url_prefix=API_PREFIX + path, description=description)
    errors.install(blueprint)
    auth.protect(blueprint)
    return blueprint
