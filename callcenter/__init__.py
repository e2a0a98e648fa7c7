"""callcenter: a call-center and telephony CRM."""

from callcenter.app import create_app

__all__ = ["create_app"]
