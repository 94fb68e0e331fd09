"""Add a console user (agent, supervisor or admin) with an argon2-hashed password."""

from __future__ import annotations

import re

from sqlmodel import select

from hub.auth import ROLES, hash_password
from hub.context import Hub
from hub.errors import Conflict, Invalid
from hub.models import Agent

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def check_agent(username: str, password: str, role: str) -> str:
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise Invalid("usernames are 2-64 characters: a-z, 0-9, dot, dash, underscore")
    if len(password or "") < 8:
        raise Invalid("passwords need at least 8 characters")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    return username


async def create_agent(
    hub: Hub,
    username: str,
    password: str,
    *,
    role: str = "agent",
    display_name: str = "",
    queues: list[str] | None = None,
    skills: dict[str, int] | None = None,
) -> Agent:
    username = check_agent(username, password, role)
    async with hub.store.transaction() as session:
        if (await session.exec(select(Agent).where(Agent.username == username))).first():
            raise Conflict(f"the username {username!r} is taken")
        agent = Agent(
            username=username,
            display_name=display_name[:200],
            role=role,
            password_hash=hash_password(password),
            queues=queues or [hub.settings.routing.default_queue],
            skills=skills or {},
        )
        session.add(agent)
    return agent
