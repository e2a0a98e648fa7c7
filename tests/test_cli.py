"""The admin commands: db upgrade, user create, seed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.cli import main
from callcenter.models import Contact, IvrFlow, Queue, Skill, User, UserSkill
from callcenter.seed import DEMO_PASSWORD


def test_db_upgrade_reports_head(runner):
    result = runner.invoke(main, args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Database at revision" in result.output


def test_user_create_with_skills_then_login(runner, client, session):
    result = runner.invoke(main, args=["user", "create", "--username", "zoe", "--role", "supervisor", "--team", "West",
                                 "--skill", "sales=7", "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.username == "zoe"))
    assert (user.role, user.team.name, {s.skill.name: s.level for s in user.skills}) == ("supervisor", "West",
                                                                                         {"sales": 7})
    assert client.post("/login", data={"username": "zoe", "password": "long-enough-pw"}).status_code == 302


def test_user_create_refuses_a_taken_name_and_a_bad_skill(runner, factory):
    factory.user(username="taken")
    taken = runner.invoke(main, args=["user", "create", "--username", "TAKEN", "--password", "long-enough-pw"])
    assert taken.exit_code != 0 and "is taken" in taken.output
    bad = runner.invoke(main, args=["user", "create", "--username", "x1", "--skill", "sales",
                                    "--password", "long-enough"])
    assert bad.exit_code != 0 and "NAME=LEVEL" in bad.output


def test_seed_creates_the_demo_once(runner, session, client):
    first = runner.invoke(main, args=["seed"])
    assert first.exit_code == 0 and "Seeded 11 users and 204 contacts" in first.output
    roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
    assert roles == {"admin": 1, "supervisor": 2, "agent": 8}
    assert session.scalar(select(func.count(Queue.id))) == 3
    assert session.scalar(select(func.count(Contact.id))) == 204
    # The bilingual line, and agents who can take its Chinese callers.
    assert set(session.scalars(select(IvrFlow.phone_number))) == {"+18005550100", "+18005550188"}
    chinese = session.scalars(select(User.username).join(UserSkill).join(Skill)
                              .where(Skill.name == "language:zh_Hans")).all()
    assert sorted(chinese) == ["jun", "mei"]
    assert client.post("/login", data={"username": "alice", "password": DEMO_PASSWORD}).status_code == 302

    second = runner.invoke(main, args=["seed"])
    assert "nothing seeded" in second.output
    assert session.scalar(select(func.count(Contact.id))) == 204


@pytest.fixture
def public(app_config):
    """The server listens on every interface (the emulator chosen on purpose)."""
    app_config.update(HOST="0.0.0.0", TELEPHONY_PROVIDER="sim")
    return app_config


def test_seed_refuses_demo_users_on_a_public_host(public, runner, session):
    result = runner.invoke(main, args=["seed"])
    assert result.exit_code != 0
    assert "HOST=0.0.0.0" in result.output
    assert session.scalar(select(func.count(User.id))) == 0
