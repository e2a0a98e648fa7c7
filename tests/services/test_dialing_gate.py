"""The dialing gate: each rule refuses when its fixture makes it fire and stays quiet when it doesn't.

Every test passes `now` (never the wall clock) and explicit rules, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from callcenter.models import Campaign, CampaignContact, DialAttempt, DoNotCall
from callcenter.services import dialing_gate as gate
from callcenter.services.dialing_gate import DialRules

RULES = DialRules(window_start=time(8, 0), window_end=time(21, 0), allowed_countries=frozenset({"US", "CA", "GB",
                  "CN", "FR"}), daily_cap=3, abandon_lockout=timedelta(hours=72))
LA = "+14155550199"  # America/Los_Angeles only; in July that is UTC-7
NOON_LA = datetime(2026, 7, 1, 19, 0, tzinfo=UTC)


def decide(session, number, now=NOON_LA, campaign=None, rules=RULES):
    return gate.evaluate(session, number, now=now, campaign=campaign, rules=rules)


def attempt(session, number, at, *, allowed=True, campaign=None, outcome=None, outcome_at=None):
    row = DialAttempt(phone_e164=number, path="click_to_call", allowed=allowed, at=at,
                      campaign_id=campaign.id if campaign else None, outcome=outcome, outcome_at=outcome_at)
    session.add(row)
    session.commit()
    return row


def test_an_ordinary_number_at_noon_is_allowed(session):
    assert decide(session, LA).allowed


# --- calling window ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("utc", "allowed"), [
    ("2026-07-01T14:59:59", False),  # 07:59:59 in Los Angeles
    ("2026-07-01T15:00:00", True),   # 08:00 opens
    ("2026-07-02T03:59:59", True),   # 20:59:59
    ("2026-07-02T04:00:00", False),  # 21:00 closes
])
def test_calling_window_edges_in_the_callees_zone(session, utc, allowed):
    decision = decide(session, LA, now=datetime.fromisoformat(utc).replace(tzinfo=UTC))
    assert decision.allowed is allowed
    assert decision.reason == (None if allowed else gate.OUTSIDE_CALLING_WINDOW)


def test_a_number_spanning_two_zones_gets_the_most_restrictive_window(session):
    newfoundland_labrador = "+17094441234"  # phonenumbers: America/Halifax and America/St_Johns (30 min ahead)
    assert set(gate.number_zones(newfoundland_labrador)) == {"America/Halifax", "America/St_Johns"}
    # July: Halifax UTC-3, St John's UTC-2:30. 23:29 UTC = 20:29 Halifax / 20:59 St John's.
    assert decide(session, newfoundland_labrador, now=datetime(2026, 7, 1, 23, 29, tzinfo=UTC)).allowed
    # 23:30 UTC = 20:30 in Halifax (open) but 21:00 in St John's (closed).
    late = decide(session, newfoundland_labrador, now=datetime(2026, 7, 1, 23, 30, tzinfo=UTC))
    assert late.reason == gate.OUTSIDE_CALLING_WINDOW
    # Morning: 10:59 UTC = 08:29 in St John's (open) but 07:59 in Halifax (closed); 11:00 opens both.
    assert decide(session, newfoundland_labrador, now=datetime(2026, 7, 1, 10, 59, tzinfo=UTC)).reason == \
        gate.OUTSIDE_CALLING_WINDOW
    assert decide(session, newfoundland_labrador, now=datetime(2026, 7, 1, 11, 0, tzinfo=UTC)).allowed


def test_a_us_toll_free_number_spans_every_nanp_zone_and_gets_only_their_common_hours(session):
    toll_free = "+18005550142"
    zones = gate.number_zones(toll_free)
    assert len(zones) > 40 and {"Pacific/Guam", "America/Adak", "America/St_Johns"} <= set(zones)
    allowed_hours = [hour for hour in range(24)
                     if decide(session, toll_free, now=datetime(2026, 7, 1, hour, 0, tzinfo=UTC)).allowed]
    # July: 22:00 UTC is 08:00 in Guam; 23:30 UTC is 21:00 in St John's. Only that hour and a half suits all.
    assert allowed_hours == [22, 23]
    assert not decide(session, toll_free, now=datetime(2026, 7, 1, 21, 59, tzinfo=UTC)).allowed
    assert decide(session, toll_free, now=datetime(2026, 7, 1, 23, 29, tzinfo=UTC)).allowed
    assert not decide(session, toll_free, now=datetime(2026, 7, 1, 23, 30, tzinfo=UTC)).allowed


def test_a_campaign_uses_its_own_calling_hours(session):
    campaign = Campaign(name="Renewals", calling_hours_start="09:00", calling_hours_end="20:00")
    session.add(campaign)
    session.commit()
    half_past_eight_la = datetime(2026, 7, 1, 15, 30, tzinfo=UTC)
    assert decide(session, LA, now=half_past_eight_la).allowed
    assert decide(session, LA, now=half_past_eight_la, campaign=campaign).reason == gate.OUTSIDE_CALLING_WINDOW


def test_parse_window_reads_24_00_as_midnight_and_refuses_backwards_windows():
    assert gate.parse_window("08:00-21:00") == (time(8, 0), time(21, 0))
    assert gate.parse_window("00:00-24:00") == (time(0, 0), None)
    with pytest.raises(ValueError):
        gate.parse_window("21:00-08:00")
    with pytest.raises(ValueError):
        gate.parse_window("eight to nine")


def test_rules_from_settings():
    rules = DialRules.from_config({"DIAL_CALLING_HOURS": "09:30-20:00", "DIAL_ALLOWED_COUNTRIES": "us, gb",
                                   "DIAL_DAILY_CAP": 5, "DIAL_ABANDON_LOCKOUT_HOURS": 24})
    assert rules == DialRules(window_start=time(9, 30), window_end=time(20, 0),
                              allowed_countries=frozenset({"US", "GB"}), daily_cap=5,
                              abandon_lockout=timedelta(hours=24))
    assert DialRules.from_config({}) == DialRules()


def test_next_window_opening_for_a_callback_put_off_overnight():
    eleven_pm_la = datetime(2026, 7, 2, 6, 0, tzinfo=UTC)
    assert gate.next_window_opening(LA, eleven_pm_la, RULES) == datetime(2026, 7, 2, 15, 0, tzinfo=UTC)


# --- destinations (toll fraud) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [
    "+19005551234",   # US 900: premium rate
    "+449098790000",  # UK 09: premium rate
    "+448712345678",  # UK 0871: premium rate
    "+33810123456",   # France 081: shared cost
    "+447012345678",  # UK 070: personal number, forwards anywhere
])
def test_premium_rate_and_special_service_numbers_are_refused(session, number):
    assert decide(session, number, rules=DialRules(window_start=time(0, 0), window_end=None,
                                                   allowed_countries=RULES.allowed_countries)).reason == \
        gate.PREMIUM_RATE


@pytest.mark.parametrize("number", ["+447946095800", "+443001234567", "+8613800138000"])
def test_ordinary_numbers_abroad_in_allowed_countries_pass_the_destination_check(session, number):
    decision = decide(session, number, rules=DialRules(window_start=time(0, 0), window_end=None,
                                                       allowed_countries=RULES.allowed_countries))
    assert decision.allowed, decision.reason


def test_a_country_not_on_the_allow_list_is_refused_even_inside_the_plus_one_plan(session):
    jamaica = "+18765551234"  # +1 like the US, but Jamaica: a classic toll-fraud destination
    decision = decide(session, jamaica)
    assert (decision.reason, decision.details["region"]) == (gate.COUNTRY_NOT_ALLOWED, "JM")
    opened = DialRules(window_start=time(0, 0), window_end=None, allowed_countries=frozenset({"JM"}))
    assert decide(session, jamaica, rules=opened).allowed


def test_an_invalid_number_is_refused(session):
    assert decide(session, "+441632960000").reason == gate.INVALID_NUMBER  # Ofcom's drama range: not assigned
    assert decide(session, "not a number").reason == gate.INVALID_NUMBER


# --- do-not-call ------------------------------------------------------------------------------------------------


def test_internal_and_imported_do_not_call_lists(session):
    internal, imported, clean = "+14155550101", "+14155550102", "+14155550103"
    session.add_all([DoNotCall(phone_e164=internal, source="internal", reason="asked us"),
                     DoNotCall(phone_e164=imported, source="imported", reason="national list")])
    session.commit()
    assert decide(session, internal).reason == gate.DNC_INTERNAL
    assert decide(session, imported).reason == gate.DNC_IMPORTED
    assert decide(session, clean).allowed


def test_a_number_on_both_lists_is_reported_as_ours(session):
    number = "+14155550104"
    session.add_all([DoNotCall(phone_e164=number, source="imported"), DoNotCall(phone_e164=number, source="internal")])
    session.commit()
    assert decide(session, number).reason == gate.DNC_INTERNAL


# --- attempt caps -----------------------------------------------------------------------------------------------


def test_daily_cap_counts_allowed_attempts_in_the_last_24_hours(session):
    for hours_ago in (1, 2, 25):
        attempt(session, LA, NOON_LA - timedelta(hours=hours_ago))
    attempt(session, LA, NOON_LA - timedelta(minutes=5), allowed=False)  # refusals never count
    assert decide(session, LA).allowed  # two in the last 24 h
    attempt(session, LA, NOON_LA - timedelta(minutes=1))
    assert decide(session, LA).reason == gate.DAILY_CAP
    assert decide(session, LA, now=NOON_LA + timedelta(hours=23)).allowed  # the 1 h and 2 h ones have aged out


def test_daily_cap_is_per_person_across_their_numbers(session, factory):
    home, mobile, stranger = "+14155550111", "+14155550112", "+14155550113"
    factory.contact(phones=(home, mobile))
    for minutes in (10, 20, 30):
        attempt(session, home, NOON_LA - timedelta(minutes=minutes))
    assert decide(session, mobile).reason == gate.DAILY_CAP
    assert decide(session, stranger).allowed


def test_per_campaign_attempt_cap(session):
    campaign = Campaign(name="Reminders", max_attempts=2, calling_hours_start="08:00", calling_hours_end="21:00")
    other = Campaign(name="Survey", max_attempts=2, calling_hours_start="08:00", calling_hours_end="21:00")
    session.add_all([campaign, other])
    session.commit()
    long_ago = NOON_LA - timedelta(days=10)
    attempt(session, LA, long_ago, campaign=campaign)
    assert decide(session, LA, campaign=campaign).allowed
    attempt(session, LA, long_ago + timedelta(days=1), campaign=campaign)
    assert decide(session, LA, campaign=campaign).reason == gate.CAMPAIGN_CAP
    assert decide(session, LA, campaign=other).allowed
    assert decide(session, LA).allowed  # outside any campaign only the daily cap applies


# --- abandon lock-out -------------------------------------------------------------------------------------------


def test_abandoned_call_locks_the_number_out_for_72_hours(session):
    abandoned_at = datetime(2026, 6, 28, 19, 0, tzinfo=UTC)
    row = attempt(session, LA, abandoned_at - timedelta(seconds=30))
    gate.record_outcome(session, call_sid=None, attempt_id=row.id, outcome="abandoned", at=abandoned_at)
    session.commit()
    just_before = abandoned_at + timedelta(hours=72) - timedelta(seconds=1)
    assert decide(session, LA, now=just_before).reason == gate.ABANDON_LOCKOUT
    assert decide(session, LA, now=abandoned_at + timedelta(hours=72)).allowed


def test_other_outcomes_do_not_lock_out(session):
    row = attempt(session, LA, NOON_LA - timedelta(hours=1))
    gate.record_outcome(session, attempt_id=row.id, outcome="no-answer", at=NOON_LA - timedelta(minutes=59))
    session.commit()
    assert decide(session, LA).allowed


def test_record_outcome_finds_the_attempt_by_call_sid_and_ignores_refusals(session):
    allowed = attempt(session, LA, NOON_LA)
    gate.attach_call(session, allowed.id, "CA" + "1" * 32)
    session.commit()
    assert gate.record_outcome(session, call_sid="CA" + "1" * 32, outcome="answered", at=NOON_LA) is allowed
    refused = attempt(session, LA, NOON_LA, allowed=False)
    assert gate.record_outcome(session, attempt_id=refused.id, outcome="abandoned", at=NOON_LA) is None
    with pytest.raises(ValueError):
        gate.record_outcome(session, attempt_id=allowed.id, outcome="exploded", at=NOON_LA)


# --- consent ----------------------------------------------------------------------------------------------------


def test_a_campaign_that_requires_consent_refuses_numbers_without_it(session, factory):
    with_consent, without = "+14155550121", "+14155550122"
    campaign = Campaign(name="Offers", requires_consent=True, calling_hours_start="08:00", calling_hours_end="21:00")
    session.add(campaign)
    session.flush()
    for number, consent_at in ((with_consent, NOON_LA - timedelta(days=3)), (without, None)):
        contact = factory.contact(phones=(number,))
        session.add(CampaignContact(campaign_id=campaign.id, contact_id=contact.id, phone_e164=number,
                                    consent_at=consent_at))
    session.commit()
    assert decide(session, with_consent, campaign=campaign).allowed
    assert decide(session, without, campaign=campaign).reason == gate.CONSENT_REQUIRED
    assert decide(session, without).allowed  # no campaign, no consent rule
    campaign.requires_consent = False
    session.commit()
    assert decide(session, without, campaign=campaign).allowed


# --- the record -------------------------------------------------------------------------------------------------


def test_may_dial_stores_every_decision_with_its_reason(session, factory):
    agent = factory.user(username="alice")
    session.add(DoNotCall(phone_e164="+14155550131", source="internal"))
    session.commit()

    refused = gate.may_dial(session, "+14155550131", actor=agent, now=NOON_LA, path="click_to_call", rules=RULES)
    allowed = gate.may_dial(session, LA, actor=agent.id, now=NOON_LA, path="softphone", rules=RULES,
                            call_sid="CA" + "2" * 32)
    session.rollback()  # the caller's rollback cannot lose them: may_dial commits

    rows = session.scalars(select(DialAttempt).order_by(DialAttempt.id)).all()
    assert [(r.phone_e164, r.actor_id, r.path, r.allowed, r.reason, r.at) for r in rows] == [
        ("+14155550131", agent.id, "click_to_call", False, gate.DNC_INTERNAL, NOON_LA),
        (LA, agent.id, "softphone", True, None, NOON_LA),
    ]
    assert (refused.attempt_id, allowed.attempt_id) == (rows[0].id, rows[1].id)
    assert str(refused.message) == "This number is on our do-not-call list"
    assert [r.id for r in gate.refusals(session)] == [rows[0].id]


def test_a_retried_webhook_gets_the_first_decision_and_counts_once(session):
    sid = "CA" + "3" * 32
    first = gate.may_dial(session, LA, actor=None, now=NOON_LA, path="softphone", rules=RULES, call_sid=sid)
    session.add(DoNotCall(phone_e164=LA, source="internal"))
    session.commit()
    again = gate.may_dial(session, LA, actor=None, now=NOON_LA, path="softphone", rules=RULES, call_sid=sid)
    assert (again.allowed, again.attempt_id) == (True, first.attempt_id)
    assert len(session.scalars(select(DialAttempt)).all()) == 1
    other_call = gate.may_dial(session, LA, actor=None, now=NOON_LA, path="softphone", rules=RULES,
                               call_sid="CA" + "4" * 32)
    assert other_call.reason == gate.DNC_INTERNAL


def test_require_raises_a_conflict_carrying_the_reason(session):
    session.add(DoNotCall(phone_e164="+14155550132", source="imported"))
    session.commit()
    with pytest.raises(gate.DialRefused) as refused:
        gate.require(session, "+14155550132", actor=None, now=NOON_LA, rules=RULES)
    assert refused.value.status == 409
    assert refused.value.decision.reason == gate.DNC_IMPORTED
    assert refused.value.message.msgid == "This number is on an imported do-not-call list"


def test_settings_read_the_gate_from_the_environment_and_refuse_a_bad_window(monkeypatch, tmp_path):
    from callcenter.settings import SettingsError, load_settings

    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("DIAL_ALLOWED_COUNTRIES", "us,ca")
    monkeypatch.setenv("DIAL_CALLING_HOURS", "09:00-24:00")
    settings = load_settings(tmp_path)
    assert (settings["DIAL_ALLOWED_COUNTRIES"], settings["DIAL_CALLING_HOURS"]) == (["US", "CA"], "09:00-24:00")
    assert (settings["DIAL_DAILY_CAP"], settings["DIAL_ABANDON_LOCKOUT_HOURS"]) == (3, 72)
    monkeypatch.setenv("DIAL_CALLING_HOURS", "21:00-08:00")
    with pytest.raises(SettingsError, match="DIAL_CALLING_HOURS"):
        load_settings(tmp_path)
