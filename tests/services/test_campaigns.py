"""Campaigns: validation with messages naming the field, status transitions, assignment, disposition rules, the
merged script and the pop section."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, CampaignContact, Disposition
from callcenter.services import campaigns
from callcenter.services.campaigns import DispositionRule
from callcenter.services.errors import Conflict, Forbidden, ValidationFailed

OURS = ["+18005550100", "+18005550188"]


@pytest.fixture
def admin(factory):
    return factory.user("admin")


@pytest.fixture
def dispositions(session):
    rows = [Disposition(code=code, label=code.title()) for code in ("sale", "no_answer", "call_back")]
    session.add_all(rows)
    session.commit()
    return rows


def new(session, actor, **values):
    values.setdefault("name", "Spring renewals")
    return campaigns.create_campaign(session, actor, values, allowed_caller_ids=OURS,
                                     agent_ids=values.pop("agent_ids", None))


def ready(session, actor, factory):
    agent = factory.user("agent")
    return new(session, actor, caller_id=OURS[0], agent_ids=[agent.id])


def test_a_new_campaign_is_a_draft_and_audited(session, admin):
    campaign = new(session, admin, mode="predictive", calling_hours_start="10:00", calling_hours_end="19:30")

    assert (campaign.status, campaign.mode, campaign.calling_hours_start) == ("draft", "predictive", "10:00")
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "Campaign")).all()
    assert actions == ["campaign.created"]


@pytest.mark.parametrize(("values", "field", "text"), [
    ({"caller_id": "+19995550000"}, "caller_id", "must be one of our numbers"),
    ({"calling_hours_start": "9:00"}, "calling_hours_start", "HH:MM"),
    ({"calling_hours_end": "25:00"}, "calling_hours_end", "HH:MM"),
    ({"calling_hours_start": "18:00", "calling_hours_end": "09:00"}, "calling_hours_end", "end after"),
    ({"mode": "robocall"}, "mode", "preview, progressive, predictive"),
    ({"max_abandon_rate": 0.9}, "max_abandon_rate", "between 0.0 and 0.5"),
    ({"max_abandon_rate": "lots"}, "max_abandon_rate", "must be a number"),
    ({"max_attempts": 0}, "max_attempts", "between 1 and 50"),
    ({"default_region": "XX"}, "default_region", "country code"),
    ({"name": "  "}, "name", "needs a name"),
])
def test_invalid_values_are_refused_naming_the_field(session, admin, values, field, text):
    with pytest.raises(ValidationFailed) as refused:
        new(session, admin, **values)
    assert refused.value.field == field
    assert text in refused.value.message


def test_names_are_unique(session, admin):
    new(session, admin)
    with pytest.raises(ValidationFailed, match="already exists"):
        new(session, admin)


def test_agents_may_not_manage_campaigns(session, factory):
    with pytest.raises(Forbidden):
        new(session, factory.user("agent"))


@pytest.mark.parametrize(("path", "expected"), [
    (["start"], "running"),
    (["start", "pause"], "paused"),
    (["start", "pause", "start"], "running"),
    (["start", "stop"], "finished"),
    (["start", "pause", "stop"], "finished"),
])
def test_allowed_transitions(session, admin, factory, path, expected):
    campaign = ready(session, admin, factory)
    for action in path:
        campaigns.change_status(session, admin, campaign.id, action)
    assert campaign.status == expected
    logged = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "Campaign",
                                                             AuditEntry.entity_id == str(campaign.id))
                             .order_by(AuditEntry.id)).all()
    assert logged[1:] == [f"campaign.{a}" for a in path]


@pytest.mark.parametrize(("path", "refused"), [
    ([], "pause"),
    ([], "stop"),
    (["start"], "start"),
    (["start", "stop"], "start"),
    (["start", "stop"], "pause"),
    (["start", "pause"], "pause"),
])
def test_refused_transitions_say_why(session, admin, factory, path, refused):
    campaign = ready(session, admin, factory)
    for action in path:
        campaigns.change_status(session, admin, campaign.id, action)
    before = campaign.status
    with pytest.raises(Conflict) as error:
        campaigns.change_status(session, admin, campaign.id, refused)
    assert error.value.message == f"A {before} campaign cannot be {campaigns.ACTION_PAST[refused]}"
    assert campaign.status == before


def test_starting_needs_a_caller_id_and_people(session, admin, factory):
    campaign = new(session, admin)
    with pytest.raises(ValidationFailed) as missing:
        campaigns.change_status(session, admin, campaign.id, "start")
    assert missing.value.field == "caller_id"
    campaigns.update_campaign(session, admin, campaign.id, {"caller_id": OURS[1]}, allowed_caller_ids=OURS)
    with pytest.raises(ValidationFailed) as nobody:
        campaigns.change_status(session, admin, campaign.id, "start")
    assert nobody.value.field == "agent_ids"
    team_member = factory.user("agent", team="Outbound")
    campaigns.update_campaign(session, admin, campaign.id, {"team_id": team_member.team_id},
                              allowed_caller_ids=OURS)
    assert campaigns.change_status(session, admin, campaign.id, "start").status == "running"


def test_a_finished_campaign_cannot_be_edited(session, admin, factory):
    campaign = ready(session, admin, factory)
    campaigns.change_status(session, admin, campaign.id, "start")
    campaigns.change_status(session, admin, campaign.id, "stop")
    with pytest.raises(Conflict):
        campaigns.update_campaign(session, admin, campaign.id, {"script": "x"}, allowed_caller_ids=OURS)


def test_disposition_rules_replace_the_list(session, admin, dispositions):
    campaign = new(session, admin)
    rules = [DispositionRule("sale", "final"), DispositionRule("no_answer", "retry", 90),
             DispositionRule("call_back", "callback")]
    campaigns.update_campaign(session, admin, campaign.id, {}, allowed_caller_ids=OURS, dispositions=rules)
    assert campaigns.disposition_rule(session, campaign.id, "no_answer").retry_after_minutes == 90
    assert campaigns.disposition_rule(session, campaign.id, "call_back").outcome == "callback"

    campaigns.update_campaign(session, admin, campaign.id, {}, allowed_caller_ids=OURS,
                              dispositions=[DispositionRule("no_answer", "retry", 30)])
    session.expire_all()
    assert [(d.disposition.code, d.retry_after_minutes) for d in campaigns.get_campaign(session, campaign.id)
            .dispositions] == [("no_answer", 30)]


@pytest.mark.parametrize(("rule", "field", "text"), [
    (DispositionRule("nope"), "dispositions.0.code", "Unknown disposition"),
    (DispositionRule("sale", "maybe"), "dispositions.0.outcome", "final, retry, callback"),
    (DispositionRule("no_answer", "retry"), "dispositions.0.retry_after_minutes", "needs its delay"),
])
def test_bad_disposition_rules_are_refused(session, admin, dispositions, rule, field, text):
    campaign = new(session, admin)
    with pytest.raises(ValidationFailed) as refused:
        campaigns.update_campaign(session, admin, campaign.id, {}, allowed_caller_ids=OURS, dispositions=[rule])
    assert (refused.value.field, text in refused.value.message) == (field, True)


def lead_of(session, campaign, contact, **custom):
    lead = CampaignContact(campaign_id=campaign.id, contact_id=contact.id, phone_e164=contact.phones[0].e164,
                           custom_fields=custom)
    session.add(lead)
    session.commit()
    return lead


def test_the_script_merges_contact_and_lead_fields(session, admin, factory):
    campaign = new(session, admin, script="Hello {first_name} {last_name}, your balance is {balance}. "
                                           "{{literal}} {shoe_size} {first_name.__class__} {0} {}")
    contact = factory.contact(phones=("+14155550101",), first_name="Ada", last_name="Lovelace")
    lead = lead_of(session, campaign, contact, balance="$120")

    text = campaigns.render_script(campaign, contact, lead)

    assert text == ("Hello Ada Lovelace, your balance is $120. {literal} {shoe_size} {first_name.__class__} {0} {}")


def test_the_script_in_chinese(session, admin, factory):
    campaign = new(session, admin, script="{last_name}{first_name}您好，您的合同号是{合同号}，到期日{到期日}。")
    contact = factory.contact(phones=("+8613800138000",), first_name="小明", last_name="王")
    lead = lead_of(session, campaign, contact, 合同号="HT-2026-001")

    assert campaigns.render_script(campaign, contact, lead) == "王小明您好，您的合同号是HT-2026-001，到期日{到期日}。"


def test_contact_fields_win_over_custom_fields_of_the_same_name(session, admin, factory):
    campaign = new(session, admin, script="{first_name}")
    contact = factory.contact(phones=("+14155550102",), first_name="Grace")
    lead = lead_of(session, campaign, contact, first_name="Evil")
    assert campaigns.render_script(campaign, contact, lead) == "Grace"


def test_pop_section(session, admin, factory):
    campaign = new(session, admin, script="Hi {first_name}, about {product}")
    contact = factory.contact(phones=("+14155550103",), first_name="Alan")
    lead = lead_of(session, campaign, contact, product="fibre")

    pop = campaigns.pop_section(session, lead)

    assert pop["campaign"] == {"id": campaign.id, "name": "Spring renewals", "mode": "preview"}
    assert pop["script"] == "Hi Alan, about fibre"
    assert pop["custom_fields"] == {"product": "fibre"}


def test_list_counts_pending_and_done_leads(session, admin, factory):
    campaign = new(session, admin)
    for index, status in enumerate(("pending", "pending", "done", "blocked")):
        contact = factory.contact(phones=(f"+1415555020{index}",))
        session.add(CampaignContact(campaign_id=campaign.id, contact_id=contact.id,
                                    phone_e164=contact.phones[0].e164, status=status))
    session.commit()
    [row], total = campaigns.list_campaigns(session, admin)
    assert (total, row.pending, row.done, row.total) == (1, 2, 2, 4)
