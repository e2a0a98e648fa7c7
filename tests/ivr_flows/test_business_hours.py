"""Open or closed by the queue's own clock: time zones, holidays, "24:00", overnight hours, next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callcenter.models import Holiday, Queue
from callcenter.services.business_hours import describe_opening, is_open, next_opening, opening_message
from callcenter.services.errors import ValidationFailed

WEEKDAYS_8_TO_6 = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def queue(hours=None, tz="America/New_York", holidays=()) -> Queue:
    return Queue(name="Support", time_zone=tz, business_hours=WEEKDAYS_8_TO_6 if hours is None else hours,
                 holidays=[Holiday(day=d, name="Holiday") for d in holidays])


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_in_new_york_while_the_utc_day_is_already_saturday():
    # Friday 2025-01-10 21:30 in New York is Saturday 02:30 UTC.
    support = queue(hours={"fri": [["08:00", "22:00"]]})
    assert is_open(support, utc(2025, 1, 11, 2, 30))
    assert not is_open(support, utc(2025, 1, 11, 3, 0))  # 22:00 local: closing time is exclusive


def test_closed_in_new_york_while_utc_says_monday_morning():
    # Monday 2025-01-13 03:00 UTC is still Sunday 22:00 in New York.
    assert not is_open(queue(), utc(2025, 1, 13, 3, 0))
    assert is_open(queue(), utc(2025, 1, 13, 13, 0))  # Monday 08:00 local


def test_a_holiday_closes_the_local_day_not_the_utc_day():
    late_fridays = {"fri": [["08:00", "22:00"]], "mon": [["08:00", "18:00"]]}
    # 2025-07-05 01:00 UTC is still Friday July 4th, 21:00, in New York.
    assert is_open(queue(hours=late_fridays), utc(2025, 7, 5, 1, 0))
    assert not is_open(queue(hours=late_fridays, holidays=[date(2025, 7, 4)]), utc(2025, 7, 5, 1, 0))
    # A holiday on the UTC date (July 5th) does not close Friday evening in New York.
    assert is_open(queue(hours=late_fridays, holidays=[date(2025, 7, 5)]), utc(2025, 7, 5, 1, 0))
    assert is_open(queue(hours=late_fridays, holidays=[date(2025, 7, 4)]), utc(2025, 7, 7, 15, 0))


def test_24_00_means_until_midnight():
    late = queue(hours={"mon": [["20:00", "24:00"]]}, tz="UTC")
    assert is_open(late, utc(2025, 1, 13, 23, 59))
    assert not is_open(late, utc(2025, 1, 14, 0, 0))
    always = queue(hours={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    assert is_open(always, utc(2025, 1, 12, 4, 0))


def test_an_overnight_interval_runs_into_the_next_morning():
    nights = queue(hours={"fri": [["22:00", "06:00"]]}, tz="UTC")
    assert is_open(nights, utc(2025, 1, 10, 23, 0))   # Friday night
    assert is_open(nights, utc(2025, 1, 11, 5, 59))   # Saturday morning
    assert not is_open(nights, utc(2025, 1, 11, 6, 0))


def test_next_opening_skips_the_weekend_and_holidays():
    support = queue(holidays=[date(2025, 1, 13)])
    # Friday 2025-01-10 19:00 in New York (after hours); Monday is a holiday -> Tuesday 08:00 local.
    opening = next_opening(support, utc(2025, 1, 11, 0, 0))
    assert opening == datetime(2025, 1, 14, 8, 0, tzinfo=opening.tzinfo)
    assert opening.utcoffset().total_seconds() == -5 * 3600
    assert opening_message(support, utc(2025, 1, 11, 0, 0)) == "We open Tuesday at 8 AM."


def test_describe_opening_today_tomorrow_and_far_away():
    support = queue(hours={"mon": [["08:30", "12:00"]], "tue": [["13:00", "17:00"]]}, tz="UTC")
    assert opening_message(support, utc(2025, 1, 13, 6, 0)) == "We open today at 8:30 AM."
    assert opening_message(support, utc(2025, 1, 13, 12, 0)) == "We open tomorrow at 1 PM."
    later = next_opening(queue(hours={"mon": [["08:00", "09:00"]]}, tz="UTC",
                               holidays=[date(2025, 1, 20)]), utc(2025, 1, 13, 10, 0))
    assert describe_opening(later, utc(2025, 1, 13, 10, 0)) == "We open Monday, January 27 at 8 AM."



def test_a_chinese_caller_hears_when_we_open_in_chinese_with_babels_day_names_and_times():
    support = queue(hours={"mon": [["08:30", "12:00"]], "tue": [["13:00", "17:00"]]}, tz="UTC")
    assert opening_message(support, utc(2025, 1, 13, 6, 0), "zh_Hans") == "我们今天上午8:30开始营业。"
    assert opening_message(support, utc(2025, 1, 13, 12, 0), "zh-CN") == "我们明天下午1时开始营业。"
    assert opening_message(support, utc(2025, 1, 9, 12, 0), "cmn-Hans-CN") == "我们将于星期一上午8:30开始营业。"
    later = next_opening(queue(hours={"mon": [["08:00", "09:00"]]}, tz="UTC",
                               holidays=[date(2025, 1, 20)]), utc(2025, 1, 13, 10, 0))
    assert describe_opening(later, utc(2025, 1, 13, 10, 0), "zh_Hans") == "我们将于1月27日星期一上午8时开始营业。"
    # An English tag, or a language without a catalogue, keeps the English sentence.
    assert opening_message(support, utc(2025, 1, 13, 12, 0), "en-US") == "We open tomorrow at 1 PM."


def test_open_now_means_the_next_opening_is_now_and_never_open_is_none():
    now = utc(2025, 1, 13, 15, 0)
    assert next_opening(queue(), now) == now
    assert next_opening(queue(hours={}), now) is None
    assert opening_message(queue(hours={}), now) is None


@pytest.mark.parametrize("hours, field", [
    ({"mon": [["8:00", "18:00"]]}, "business_hours.mon[0]"),
    ({"mon": [["08:00", "25:00"]]}, "business_hours.mon[0]"),
    ({"monday": [["08:00", "18:00"]]}, "business_hours.monday"),
    ({"mon": [["24:00", "24:00"]]}, "business_hours.mon[0]"),
    ({"mon": "08:00-18:00"}, "business_hours.mon"),
])
def test_bad_hours_are_reported_with_their_field(hours, field):
    with pytest.raises(ValidationFailed) as caught:
        is_open(queue(hours=hours), utc(2025, 1, 13, 15, 0))
    assert caught.value.field == field


def test_an_unknown_time_zone_is_a_clear_error():
    with pytest.raises(ValidationFailed, match="Unknown time zone 'Mars/Olympus'"):
        is_open(queue(tz="Mars/Olympus"), utc(2025, 1, 13, 15, 0))
