"""SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from callcenter.models.audit import AuditEntry
from callcenter.models.base import Base, utcnow
from callcenter.models.calls import Call, CallEvent, Disposition
from callcenter.models.crm import Account, Contact, ContactPhone
from callcenter.models.integration import WebhookDelivery, WebhookSubscription
from callcenter.models.ivr import IvrFlow
from callcenter.models.knowledge import KbArticle, KbArticleUse, KbCategory, KbTag, OutboundMessage
from callcenter.models.presence import AgentStateChange
from callcenter.models.recordings import Recording, RecordingNote
from callcenter.models.routing import Holiday, Queue, QueueSkill
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
    "Base",
    "Call",
    "CallEvent",
    "Callback",
    "Campaign",
    "CampaignAgent",
    "CampaignContact",
    "CampaignDisposition",
    "Contact",
    "ContactPhone",
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
    "Queue",
    "QueueSkill",
    "Recording",
    "RecordingNote",
    "Role",
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
