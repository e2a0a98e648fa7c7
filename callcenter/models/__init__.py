"""SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from callcenter.models.audit import AuditEntry
from callcenter.models.base import Base, utcnow
from callcenter.models.callback_attempts import CallbackAttempt
from callcenter.models.calls import Call, CallEvent, Disposition
from callcenter.models.crm import Account, Contact, ContactPhone
from callcenter.models.floor_lists import AwayReason, PhoneNumber
from callcenter.models.integration import WebhookDelivery, WebhookSubscription
from callcenter.models.ivr import IvrFlow
from callcenter.models.knowledge import KbArticle, KbArticleUse, KbCategory, KbTag, OutboundMessage
from callcenter.models.presence import AgentStateChange
from callcenter.models.recordings import Recording, RecordingNote
from callcenter.models.reports import ReportSchedule
from callcenter.models.rfm import ContactRfm
from callcenter.models.routing import Holiday, Queue, QueueSkill
from callcenter.models.trace import RoutingTrace
from callcenter.models.users import ApiToken, Role, Skill, Team, User, UserSkill
from callcenter.models.work import (
    Callback,
    Campaign,
    CampaignAgent,
    CampaignContact,
    CampaignDisposition,
    DialAttempt,
    DoNotCall,
    ListImport,
    ServiceAgreement,
    Ticket,
    TicketEvent,
)

__all__ = [
    "Account",
    "AgentStateChange",
    "ApiToken",
    "AuditEntry",
    "AwayReason",
    "Base",
    "Call",
    "CallEvent",
    "Callback",
    "CallbackAttempt",
    "Campaign",
    "CampaignAgent",
    "CampaignContact",
    "CampaignDisposition",
    "Contact",
    "ContactPhone",
    "ContactRfm",
    "DialAttempt",
    "Disposition",
    "DoNotCall",
    "Holiday",
    "IvrFlow",
    "KbArticle",
    "KbArticleUse",
    "KbCategory",
    "KbTag",
    "ListImport",
    "OutboundMessage",
    "PhoneNumber",
    "Queue",
    "QueueSkill",
    "Recording",
    "RecordingNote",
    "ReportSchedule",
    "Role",
    "RoutingTrace",
    "ServiceAgreement",
    "Skill",
    "Team",
    "Ticket",
    "TicketEvent",
    "User",
    "UserSkill",
    "WebhookDelivery",
    "WebhookSubscription",
    "utcnow",
]
