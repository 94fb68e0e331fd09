"""Passwords (argon2) and bearer tokens (random, stored only as a sha256, with an expiry)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import select

from hub.context import Hub
from hub.errors import Forbidden, Unauthorized
from hub.models import Agent, AuditLog, AuthToken
from hub.tables import AGENTS, AUTH_TOKENS

_hasher = PasswordHasher()
ROLES = ("agent", "supervisor", "admin")
# A hash of a random password: verifying against it costs as much as a real check, so a login
# for an unknown user takes as long as one with a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(hub: Hub, agent_id: str) -> str:
    token = secrets.token_urlsafe(32)
    async with hub.store.transaction() as session:
        session.add(
            AuthToken(
                token_hash=token_digest(token),
                agent_id=agent_id,
                expires_at=hub.now() + timedelta(seconds=hub.settings.token_ttl_s),
            )
        )
    return token


async def agent_for_token(hub: Hub, token: str | None) -> Agent:
    """The agent a bearer token belongs to, or Unauthorized (missing, unknown, expired, revoked)."""
    if not token or len(token) > 200:
        raise Unauthorized("a valid token is required")
    async with hub.store.session() as session:
        row = (
            await session.exec(
                select(AuthToken, Agent)
                .join(Agent, Agent.id == AuthToken.agent_id)  # type: ignore[arg-type]
                .where(AuthToken.token_hash == token_digest(token))
            )
        ).first()
    if row is None:
        raise Unauthorized("a valid token is required")
    stored, agent = row
    if stored.revoked or stored.expires_at <= hub.now():
        raise Unauthorized("the token has expired; log in again")
    return agent


# Built once (every console command runs it): the token's agent, revoked flag and expiry.
TOKEN_AGENT = (
    sa.select(AUTH_TOKENS.c.agent_id, AUTH_TOKENS.c.revoked, AUTH_TOKENS.c.expires_at)
    .join(AGENTS, AGENTS.c.id == AUTH_TOKENS.c.agent_id)
    .where(AUTH_TOKENS.c.token_hash == sa.bindparam("digest"))
)


async def agent_id_for_token(hub: Hub, token: str | None) -> str:
    """Like agent_for_token, for the console's commands: three columns, not two ORM rows with
    the agent's JSON fields, on every accept and wrap-up."""
    if not token or len(token) > 200:
        raise Unauthorized("a valid token is required")
    async with hub.store.session() as session:
        row = (await session.execute(TOKEN_AGENT, {"digest": token_digest(token)})).first()
    if row is None:
        raise Unauthorized("a valid token is required")
    agent_id, revoked, expires_at = row
    if revoked or expires_at <= hub.now():
        raise Unauthorized("the token has expired; log in again")
    return agent_id


async def revoke_token(hub: Hub, token: str) -> None:
    async with hub.store.transaction() as session:
        stored = await session.get(AuthToken, token_digest(token))
        if stored is not None and not stored.revoked:
            stored.revoked = True
            session.add(stored)
            agent = await session.get(Agent, stored.agent_id)
            actor = agent.username if agent else ""
            session.add(AuditLog(actor=actor, action="logout", target=stored.agent_id))


async def revoke_all_tokens(hub: Hub, agent_id: str, actor: str) -> int:
    """A lost laptop or a leaver: every live token of the agent stops working at once."""
    async with hub.store.transaction() as session:
        rows = (
            await session.exec(
                select(AuthToken).where(
                    AuthToken.agent_id == agent_id,
                    AuthToken.revoked == False,  # noqa: E712 - SQL expression
                )
            )
        ).all()
        for stored in rows:
            stored.revoked = True
            session.add(stored)
        session.add(
            AuditLog(
                actor=actor,
                action="agent.revoke_tokens",
                target=agent_id,
                detail={"count": len(rows)},
            )
        )
    return len(rows)


def require_role(agent: Agent, *roles: str) -> Agent:
    if agent.role not in roles:
        raise Forbidden(f"this needs the {' or '.join(roles)} role")
    return agent
