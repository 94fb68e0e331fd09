"""Exchange a username and password for a bearer token (rate limited per username and address)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from hub.auth import issue_token, verify_password
from hub.context import Hub
from hub.errors import Invalid, TooManyRequests, Unauthorized
from hub.models import Agent, AuditLog

MAX_FAILURES = 10  # per username ...
MAX_FAILURES_PER_ADDRESS = 30  # ... and per client address (an office behind one NAT) ...
WINDOW_S = 300.0  # ... in this window; successful logins do not count


@dataclass(frozen=True, slots=True)
class LoggedIn:
    token: str
    role: str
    agent_id: str
    display_name: str


def check_credentials(username: object, password: object) -> tuple[str, str]:
    if not isinstance(username, str) or not isinstance(password, str):
        raise Invalid("username and password are required")
    username = username.strip().lower()
    if not username or not password or len(username) > 64 or len(password) > 1024:
        raise Invalid("username and password are required")
    return username, password


async def log_in(hub: Hub, username: object, password: object, *, client: str = "") -> LoggedIn:
    name, secret = check_credentials(username, password)
    limits = {f"login:user:{name}": MAX_FAILURES, f"login:addr:{client}": MAX_FAILURES_PER_ADDRESS}
    # Counted before the check (parallel guesses cannot slip through), refunded on success.
    counts = {key: await hub.routing_state.hit(key, WINDOW_S) for key in limits}
    if any(counts[key] > limit for key, limit in limits.items()):
        raise TooManyRequests("too many failed logins; wait a few minutes")
    async with hub.store.session() as session:
        agent = (await session.exec(select(Agent).where(Agent.username == name))).first()
    if not verify_password(agent.password_hash if agent else "", secret) or agent is None:
        async with hub.store.transaction() as session:
            session.add(AuditLog(actor=name, action="login.failed", target=client[:200]))
        raise Unauthorized("wrong username or password")
    for key in limits:
        await hub.routing_state.hit(key, WINDOW_S, amount=-1)
    token = await issue_token(hub, agent.id)
    async with hub.store.transaction() as session:
        session.add(AuditLog(actor=name, action="login", target=client[:200]))
    return LoggedIn(token, agent.role, agent.id, agent.display_name or agent.username)
