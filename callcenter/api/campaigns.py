"""/api/v1/campaigns: outbound campaigns (admins and supervisors): create, read, change, delete, start / pause /
stop, their leads, and list imports from CSV. /api/v1/imports/{id}: an import's progress and per-row report.
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, Id, JsonBoolean, PageSchema, StrictSchema, limit_offset, page_of
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models.recordings import RECORDING_POLICIES
from callcenter.redis_conn import get_redis
from callcenter.services import campaign_lists, campaigns, csv_import
from callcenter.services.campaigns import DispositionRule
from callcenter.services.errors import Conflict, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.storable import find_problem
from callcenter.telephony import links

blp = resource_blueprint("campaigns", __name__, "/campaigns",
                         "Outbound campaigns (admins and supervisors): settings, status, leads and list imports")
imports_blp = resource_blueprint("imports", __name__, "/imports", "List imports: progress and per-row report")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class MultipartParser(FlaskParser):
    """`files` arguments read the form fields too, so one multipart schema holds the file and its options."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp.ARGUMENTS_PARSER = MultipartParser()

HoursField = fields.String(validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Write the time as HH:MM."))


class RuleIn(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    outcome = fields.String(load_default="final", validate=validate.OneOf(campaigns.OUTCOMES))
    retry_after_minutes = fields.Integer(load_default=None, allow_none=True,
                                         validate=validate.Range(min=1, max=campaigns.MAX_RETRY_AFTER_MINUTES))


class CampaignFields(StrictSchema):
    """Writable fields; all optional, so the same schema serves PATCH."""

    name = fields.String(validate=validate.Length(min=1, max=campaigns.MAX_NAME))
    mode = fields.String(validate=validate.OneOf(campaigns.MODES))
    queue_id = fields.Integer(allow_none=True, validate=Id)
    caller_id = fields.String(allow_none=True, validate=validate.Length(max=20),
                              metadata={"description": "One of our numbers (the CALLER_IDS setting)"})
    team_id = fields.Integer(allow_none=True, validate=Id, metadata={"description": "A whole team works it"})
    script = fields.String(validate=validate.Length(max=campaigns.MAX_SCRIPT),
                           metadata={"description": "`{first_name}`-style fields; see the campaigns docs"})
    calling_hours_start = HoursField
    calling_hours_end = HoursField
    max_attempts = fields.Integer(validate=validate.Range(min=1, max=50))
    retry_minutes = fields.Integer(validate=validate.Range(min=1, max=60 * 24 * 30))
    default_region = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$"),
                                   metadata={"description": "Country of numbers in national form (US, GB, CN)"})
    voicemail_drop_text = fields.String(validate=validate.Length(max=campaigns.MAX_MESSAGE_TEXT))
    identification_text = fields.String(validate=validate.Length(max=campaigns.MAX_MESSAGE_TEXT))
    max_abandon_rate = fields.Float(validate=validate.Range(min=0, max=0.5))
    abandon_window_days = fields.Integer(validate=validate.Range(min=1, max=365))
    requires_consent = JsonBoolean()
    recording_policy = fields.String(validate=validate.OneOf(RECORDING_POLICIES),
                                     metadata={"description": "off, all (consent prompt, every call recorded) or "
                                                              "on_demand (consent prompt, agents may record)"})
    dial_ratio = fields.Float(validate=validate.Range(min=1, max=10))
    agent_ids = fields.List(fields.Integer(validate=Id), validate=validate.Length(max=500),
                            metadata={"description": "Replaces the assigned agents"})
    dispositions = fields.List(fields.Nested(RuleIn), validate=validate.Length(max=100),
                               metadata={"description": "Replaces the disposition rules"})


class CampaignIn(CampaignFields):
    name = fields.String(required=True, validate=validate.Length(min=1, max=campaigns.MAX_NAME))


class RuleOut(ma.Schema):
    code = fields.Function(lambda rule: rule.disposition.code)
    outcome = fields.String()
    retry_after_minutes = fields.Integer(allow_none=True)


class LeadCounts(ma.Schema):
    pending = fields.Integer()
    done = fields.Integer()
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class CampaignOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    mode = fields.String()
    status = fields.String()
    queue_id = fields.Integer(allow_none=True)
    caller_id = fields.String(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    script = fields.String()
    calling_hours_start = fields.String()
    calling_hours_end = fields.String()
    max_attempts = fields.Integer()
    retry_minutes = fields.Integer()
    default_region = fields.String()
    voicemail_drop_text = fields.String()
    identification_text = fields.String()
    max_abandon_rate = fields.Float()
    abandon_window_days = fields.Integer()
    requires_consent = fields.Boolean()
    recording_policy = fields.String()
    dial_ratio = fields.Float()
    agent_ids = fields.Function(lambda c: sorted(a.user_id for a in c.agents), metadata={"type": "array"})
    dispositions = fields.List(fields.Nested(RuleOut))
    leads = fields.Method("_leads", metadata={"type": "object"})
    created_at = fields.DateTime()

    def _leads(self, campaign) -> dict[str, Any]:
        counts = campaigns.summary(db.session, campaign)
        return {"pending": counts.pending, "done": counts.done, "total": counts.total, "by_status": counts.leads}


class CampaignPageArgs(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class CampaignPage(PageSchema):
    items = fields.List(fields.Nested(CampaignOut), required=True)


class LeadArgs(CampaignPageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(
        campaigns.OPEN_LEAD_STATUSES + campaigns.CLOSED_LEAD_STATUSES))


class LeadOut(ma.Schema):
    id = fields.Integer()
    contact_id = fields.Integer()
    contact_name = fields.Function(
        lambda lead: lead.contact.full_name or f"{lead.contact.first_name} {lead.contact.last_name}".strip())
    phone = fields.String(attribute="phone_e164")
    status = fields.String()
    priority = fields.Integer()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_disposition = fields.String(allow_none=True)
    last_result = fields.String(allow_none=True)
    custom_fields = fields.Dict()
    owner_agent_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True)
    import_id = fields.Integer(allow_none=True)
    consent_at = fields.DateTime(allow_none=True)


class LeadPage(PageSchema):
    items = fields.List(fields.Nested(LeadOut), required=True)


class UploadField(fields.Field):
    """A file part of a multipart body (documented as a binary string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("Send the CSV as a file part of a multipart/form-data body.")
        return value


class ListImportIn(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # the proxy sees the other form fields and files too; only these are read

    file = UploadField(required=True, metadata={"type": "string", "format": "binary",
                                                "description": "The CSV (UTF-8); the first line names the columns"})
    mapping = fields.String(load_default=None, validate=validate.Length(max=20_000), metadata={
        "description": 'JSON object: column name -> field (phone, first_name, last_name, email, account, '
                       'priority, consent, custom:<name>, or "" to ignore it). Default: guessed from the header'})
    all_or_nothing = fields.Boolean(load_default=True, metadata={
        "description": "true (default): one rejected row and nothing is imported"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Only check the rows and report"})


class ListImportReportEntry(ma.Schema):
    line = fields.Integer(metadata={"description": "Line in the file (the header is line 1)"})
    status = fields.String(metadata={"description": "rejected, skipped or flagged"})
    code = fields.String()
    message = fields.Function(lambda entry: translate(csv_import.entry_message(entry)))


class ListImportOut(ma.Schema):
    id = fields.Integer()
    campaign_id = fields.Integer(allow_none=True)
    filename = fields.String()
    status = fields.String(metadata={"description": "pending, running, done or failed"})
    all_or_nothing = fields.Boolean()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    total_rows = fields.Integer()
    processed_rows = fields.Integer()
    imported_rows = fields.Integer()
    rejected_rows = fields.Integer()
    report = fields.List(fields.Nested(ListImportReportEntry))
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class ListImportDryRunOut(ListImportOut):
    would_import = fields.Integer(metadata={"description": "Rows an import with this mapping and mode would add"})


def _split(data: dict[str, Any]) -> tuple[dict[str, Any], list[int] | None, list[DispositionRule] | None]:
    values = dict(data)
    agent_ids = values.pop("agent_ids", None)
    rules = values.pop("dispositions", None)
    return values, agent_ids, None if rules is None else [
        DispositionRule(r["code"], r["outcome"], r["retry_after_minutes"]) for r in rules]


def _caller_ids() -> list[str]:
    return links.caller_ids()


@blp.route("")
class Campaigns(MethodView):
    @blp.arguments(CampaignPageArgs, location="query")
    @blp.response(200, CampaignPage)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    def get(self, args: dict[str, Any]):
        """Campaigns, newest first, with their leads pending and done."""
        items, total = campaigns.list_campaigns(db.session, current_actor(), **limit_offset(args))
        return page_of([item.campaign for item in items], total, args)

    @blp.arguments(CampaignIn)
    @blp.response(201, CampaignOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Create a campaign (in draft). The caller ID must be one of ours; calling hours are HH:MM."""
        values, agent_ids, rules = _split(data)
        return campaigns.create_campaign(db.session, current_actor(), values, allowed_caller_ids=_caller_ids(),
                                         agent_ids=agent_ids, dispositions=rules)


@blp.route(f"/<{ID}:campaign_id>")
class CampaignById(MethodView):
    @blp.response(200, CampaignOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    def get(self, campaign_id: int):
        """One campaign with its agents, disposition rules and lead counts."""
        campaigns.require_manager(current_actor())
        return campaigns.get_campaign(db.session, campaign_id)

    @blp.arguments(CampaignFields, required=False)
    @blp.response(200, CampaignOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    @blp.alt_response(409, schema=ErrorSchema, description="The campaign is finished")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], campaign_id: int):
        """Change the given fields; `agent_ids` and `dispositions`, when given, replace the whole list."""
        values, agent_ids, rules = _split(data)
        return campaigns.update_campaign(db.session, current_actor(), campaign_id, values,
                                         allowed_caller_ids=_caller_ids(), agent_ids=agent_ids, dispositions=rules)

    @blp.response(204)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    @blp.alt_response(409, schema=ErrorSchema, description="The campaign is running")
    def delete(self, campaign_id: int):
        """Delete a campaign that is not running, with its leads."""
        campaigns.delete_campaign(db.session, current_actor(), campaign_id)


STATUS_RESPONSES = (
    (403, "Admins and supervisors only"), (404, "No such campaign"),
    (409, "Not allowed from the campaign's status"), (422, "Starting needs a caller ID and agents or a team"),
)


def _documented(func):
    func = blp.response(200, CampaignOut)(func)
    for status, description in STATUS_RESPONSES:
        func = blp.alt_response(status, schema=ErrorSchema, description=description)(func)
    return func


@blp.route(f"/<{ID}:campaign_id>/start")
class CampaignStart(MethodView):
    @_documented
    def post(self, campaign_id: int):
        """Start (from draft) or resume (from paused) the campaign."""
        return campaigns.change_status(db.session, current_actor(), campaign_id, "start")


@blp.route(f"/<{ID}:campaign_id>/pause")
class CampaignPause(MethodView):
    @_documented
    def post(self, campaign_id: int):
        """Pause a running campaign: no new dials until it is started again."""
        return campaigns.change_status(db.session, current_actor(), campaign_id, "pause")


@blp.route(f"/<{ID}:campaign_id>/stop")
class CampaignStop(MethodView):
    @_documented
    def post(self, campaign_id: int):
        """Finish a running or paused campaign for good."""
        return campaigns.change_status(db.session, current_actor(), campaign_id, "stop")


@blp.route(f"/<{ID}:campaign_id>/leads")
class Leads(MethodView):
    @blp.arguments(LeadArgs, location="query")
    @blp.response(200, LeadPage)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    def get(self, args: dict[str, Any], campaign_id: int):
        """The campaign's leads in dialling order (priority, then due time); `status` filters."""
        items, total = campaigns.list_leads(db.session, current_actor(), campaign_id, status=args["status"],
                                            **limit_offset(args))
        return page_of(items, total, args)


def _mapping(raw: str | None) -> dict[str, str] | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise ValidationFailed(t("The mapping is not valid JSON"), field="mapping") from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in mapping.items()) or find_problem(mapping):
        raise ValidationFailed(t("The mapping must name a field for each column"), field="mapping")
    return mapping


@blp.route(f"/<{ID}:campaign_id>/imports")
class Imports(MethodView):
    accepts_multipart = True  # callcenter.api.auth lets this one body be multipart/form-data

    @blp.arguments(ListImportIn, location="files")
    @blp.response(202, ListImportOut)
    @blp.alt_response(200, schema=ListImportDryRunOut, description="Dry run: the per-row report, nothing imported")
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    @blp.alt_response(409, schema=ErrorSchema, description="The campaign is finished")
    @blp.alt_response(422, schema=ErrorSchema, description="Not a CSV, a bad mapping, or too many rows")
    def post(self, data: dict[str, Any], campaign_id: int):
        """Upload a CSV of leads. With `dry_run`, only the per-row report; else the import runs as a job: poll
        GET /api/v1/imports/{id} for its progress and report."""
        actor = current_actor()
        campaigns.require_manager(actor)
        campaign = campaigns.get_campaign(db.session, campaign_id)
        if campaign.status == "finished":
            raise Conflict(t("A finished campaign can no longer be changed"), field="status")
        storage: FileStorage = data["file"]
        raw = storage.stream.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(t("The file is larger than %(size)s KB", size=MAX_UPLOAD_BYTES // 1024),
                                   field="file")
        text = csv_import.decode(raw)
        r = get_redis()
        entry = csv_import.create_import(db.session, r, actor, campaign_id=campaign.id,
                                         filename=storage.filename or "upload.csv", text=text,
                                         mapping=_mapping(data["mapping"]), all_or_nothing=data["all_or_nothing"])
        target = campaign_lists.CampaignList(campaign.id)
        if data["dry_run"]:
            result = csv_import.dry_run(db.session, r, entry, target, region=campaign.default_region)
            body = ListImportDryRunOut().dump(entry)
            body["would_import"] = result.would_import(entry.all_or_nothing)
            return jsonify(body)
        return csv_import.queue_import(db.session, entry)


@imports_blp.route(f"/<{ID}:import_id>")
class ImportById(MethodView):
    @imports_blp.response(200, ListImportOut)
    @imports_blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @imports_blp.alt_response(404, schema=ErrorSchema, description="No such import")
    def get(self, import_id: int):
        """An import's progress (`processed_rows` of `total_rows`) and, once done, its per-row report."""
        campaigns.require_manager(current_actor())
        return csv_import.get_import(db.session, import_id)

