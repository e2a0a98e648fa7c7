"""Contract documents vendored into the repository (tests/contracts), so the suite never reads outside it."""

from __future__ import annotations

from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
# Twilio's OpenAPI description of REST API v2010 (MIT; LICENSE and provenance beside it).
TWILIO_OAI = CONTRACTS / "twilio-oai" / "twilio_api_v2010.json"
