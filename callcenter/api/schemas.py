"""Marshmallow schemas: what the API accepts (unknown fields are rejected) and what it returns.

Lengths mirror the database columns, so an over-long value is a 422 naming the field, never a driver error.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

import marshmallow as ma
from marshmallow import fields, validate

from callcenter.models import Role
from callcenter.services import phones

MAX_PER_PAGE = 100
MAX_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL

Id = validate.Range(min=1, max=MAX_ID)
# URL rule for an id in a path: anything else (0, 2**63, "abc") is simply no such resource, a 404.
ID = f"int(min=1, max={MAX_ID})"


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _valid_time_zone(value: str | None) -> None:
    if value is not None and value not in _time_zones():
        raise ma.ValidationError(f"{value!r} is not an IANA time zone (like America/New_York).")


class JsonBoolean(fields.Boolean):
    """A JSON `true` or `false`, nothing else: marshmallow's Boolean also takes 1, 0, "yes", "off"..., which the
    document (type: boolean) does not promise, so a client relying on them would be relying on an accident."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictSchema(ma.Schema):
    """Unknown fields are an error (marshmallow 4's default, stated so nobody loosens it by accident)."""

    class Meta:
        unknown = ma.RAISE


# --- paging and search ----------------------------------------------------------------------------------------


class PageArgs(StrictSchema):
    """Paging only, for lists whose filters are fields of their own."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(
        load_default=25,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page, 1..{MAX_PER_PAGE}"},
    )


class SearchArgs(PageArgs):
    q = fields.String(
        load_default="", validate=validate.Length(max=200), metadata={"description": "Text to search for"}
    )


class PageSchema(ma.Schema):
    """Pages are in the body: `items`, the `total` number of matches, and the page asked for."""

    total = fields.Integer(required=True, metadata={"description": "How many items match, over all pages"})
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


def _account_value(value: Decimal | None) -> None:
    """An account's value fits `accounts.value` (Numeric(14, 2)) and is not negative. A tiny negative number is
    rounded to the two places before it is checked: its sign, kept on the zero ("-0.00"), still refuses it."""
    if value is not None and (value.is_signed() or not value < 10 ** 12):
        raise ma.ValidationError("An account's value is between 0 and 999,999,999,999.99.")


def page_of(items: list, total: int, args: dict) -> dict:
    """The body of a paged answer."""
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


def limit_offset(args: dict) -> dict[str, int]:
    """The service's limit/offset for page/per_page."""
    return {"limit": args["per_page"], "offset": (args["page"] - 1) * args["per_page"]}


class CsrfTokenSchema(ma.Schema):
    csrf_token = fields.String(required=True)


# --- contacts and accounts ------------------------------------------------------------------------------------


class PhoneIn(StrictSchema):
    number = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Any common format: (415) 555-0100, +1 415-555-0100, +44 20 7946 0958, "
                                 "+86 138 0013 8000"},
    )
    label = fields.String(load_default="mobile", validate=validate.Length(min=1, max=20))
    region = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{2}$"),
        metadata={"description": "Country of a number typed in national format (CN for 010-6552 9988); "
                                 "default: the server's DEFAULT_REGION"},
    )


class PhoneOut(ma.Schema):
    e164 = fields.String(metadata={"description": "The number in E.164, the lookup key"})
    raw = fields.String(metadata={"description": "The number as it was typed"})
    label = fields.String()
    display = fields.Function(lambda phone: phones.display(phone.e164), metadata={"description": "For people"})


class AccountRef(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class ContactFields(StrictSchema):
    """Writable contact fields; all optional, so the same schema serves PATCH."""

    first_name = fields.String(validate=validate.Length(max=100))
    last_name = fields.String(validate=validate.Length(max=100))
    full_name = fields.String(validate=validate.Length(max=200),
                              metadata={"description": "The name in one piece (王小明), shown as it is when set"})
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    account_id = fields.Integer(allow_none=True, validate=Id)
    vip = JsonBoolean()
    owner_id = fields.Integer(allow_none=True, validate=Id, metadata={"description": "Default: the caller"})
    time_zone = fields.String(allow_none=True, validate=_valid_time_zone)
    language = fields.String(allow_none=True, validate=validate.Length(max=16))
    notes = fields.String(validate=validate.Length(max=20_000))
    phones = fields.List(
        fields.Nested(PhoneIn),
        validate=validate.Length(max=20),
        metadata={"description": "On PATCH, replaces the whole list"},
    )


class ContactOut(ma.Schema):
    id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    full_name = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    account = fields.Nested(AccountRef, allow_none=True)
    vip = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    time_zone = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    notes = fields.String()
    phones = fields.List(fields.Nested(PhoneOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ContactPage(PageSchema):
    items = fields.List(fields.Nested(ContactOut), required=True)


class AccountCreate(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    vip = JsonBoolean()
    owner_id = fields.Integer(allow_none=True, validate=Id, metadata={"description": "Default: the caller"})
    service_agreement_id = fields.Integer(allow_none=True, validate=Id,
                                         metadata={"description": "SLA tier of the account's tickets (supervisors "
                                                                  "and admins); null: the default tier"})
    value = fields.Decimal(allow_none=True, places=2, validate=_account_value,
                           metadata={"description": "What the account is worth, 0 or more (customer analysis: "
                                                    "the RFM value score, docs/rfm.md)", "minimum": 0})


class AccountUpdate(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    vip = JsonBoolean()
    owner_id = fields.Integer(allow_none=True, validate=Id)
    service_agreement_id = fields.Integer(allow_none=True, validate=Id,
                                         metadata={"description": "SLA tier of the account's tickets (supervisors "
                                                                  "and admins); null: the default tier"})
    value = fields.Decimal(allow_none=True, places=2, validate=_account_value,
                           metadata={"description": "What the account is worth, 0 or more (customer analysis: "
                                                    "the RFM value score, docs/rfm.md)", "minimum": 0})


class AccountOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    vip = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    service_agreement_id = fields.Integer(allow_none=True)
    value = fields.Float(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AccountPage(PageSchema):
    items = fields.List(fields.Nested(AccountOut), required=True)


# --- users and tokens -----------------------------------------------------------------------------------------

ROLES = [r.value for r in Role]
Skills = fields.Dict(
    keys=fields.String(validate=validate.Length(min=1, max=60)),
    values=fields.Integer(validate=validate.Range(min=1, max=10)),
    metadata={"description": "Skill name -> level 1 (basic) .. 10 (expert)"},
)


class UserCreate(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=256))
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    role = fields.String(load_default=Role.AGENT.value, validate=validate.OneOf(ROLES))
    team = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    skills = Skills


class UserUpdate(StrictSchema):
    full_name = fields.String(validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    role = fields.String(validate=validate.OneOf(ROLES))
    team = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    active = JsonBoolean()
    password = fields.String(load_only=True, validate=validate.Length(min=8, max=256))
    skills = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=60)),
        values=fields.Integer(validate=validate.Range(min=1, max=10)),
        metadata={"description": "Replaces the whole set"},
    )
    language = fields.String(allow_none=True, validate=validate.Length(max=16),
                             metadata={"description": "Locale of the person's screens (en, zh_Hans); null: browser"})
    time_zone = fields.String(allow_none=True, validate=validate.Length(max=64),
                              metadata={"description": "IANA time zone (Asia/Shanghai); null: UTC / the browser's"})


class UserOut(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String(validate=validate.OneOf(ROLES))
    team = fields.Function(lambda user: user.team.name if user.team else None, allow_none=True)
    active = fields.Boolean()
    skills = fields.Function(
        lambda user: {s.skill.name: s.level for s in user.skills},
        metadata={"description": "Skill name -> level"},
    )
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    language = fields.String(allow_none=True)
    time_zone = fields.String(allow_none=True)


class UserPage(PageSchema):
    items = fields.List(fields.Nested(UserOut), required=True)


class TokenCreate(StrictSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "What the token is for (an integration's name)"},
    )


class TokenOut(ma.Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    name = fields.String()
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class IssuedToken(TokenOut):
    token = fields.String(metadata={"description": "The secret, shown only in this answer; store it now"})
