"""Build an outbound reply as an RFC 5322 message, threaded so mail clients group it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

import nh3

from channels.base import ChannelError, OutboundMessage

MAX_REFERENCES = 20
MAX_SUBJECT_CHARS = 900
REPLY_PREFIX_RE = re.compile(r"^\s*(re|aw|sv|antw|odp|r)\s*(\[\d+\])?\s*:", re.IGNORECASE)
MSGID_TOKEN_RE = re.compile(r"^[^\s<>\x00-\x1f\x7f]+@[^\s<>\x00-\x1f\x7f]+$")


LOOP_HEADER = "X-Crmhub-Loop"  # on every mail we send: our own mail read back is never work
TICKET_RE = re.compile(r"\[#(T-[0-9a-f]{10})\]")
MAX_QUOTE_CHARS = 20_000


class _HeaderClasses(HeaderRegistry):
    """The stdlib registry builds a new class with type() for every header it is asked about
    (each one set, and again for each max-count check): a third of composing and sending a mail
    in B5's profile. The classes depend on the name only, so each is built once."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = super().__getitem__(name)
        return built


POLICY = policy.default.clone(header_factory=_HeaderClasses())


def ticket_token(interaction_id: str) -> str:
    """`T-` + 10 hex digits of the interaction's random id: short, and not a guessable sequence."""
    return "T-" + interaction_id[:10].lower()


def find_ticket(subject: str) -> str | None:
    found = TICKET_RE.search(subject or "")
    return found.group(1) if found else None


def with_ticket(subject: str, token: str) -> str:
    return subject if f"[#{token}]" in subject else f"{subject} [#{token}]".strip()


def quote_block(author: str, at: str, body: str) -> str:
    """The customer's last mail under the reply, the way mail clients quote."""
    lines = body[:MAX_QUOTE_CHARS].splitlines() or [""]
    quoted = "\n".join(("> " + line) if line else ">" for line in lines)
    return f"On {at}, {author} wrote:\n{quoted}"


def compose_reply(message: OutboundMessage, *, from_addr: str, domain: str) -> EmailMessage:
    """Text body (+ optional sanitized HTML alternative); header injection is rejected.

    `meta`: `ticket` (token added to the subject), `quote` ({author, at, body}: the mail this
    answers, quoted under the reply), `html` (sanitized alternative part).
    """
    to = _address(message.to, "to")
    sender = _address(message.from_ or from_addr, "from")
    subject = _single_line(message.subject, "subject")[:MAX_SUBJECT_CHARS]
    in_reply_to = normalize_msgid(message.in_reply_to) if message.in_reply_to else ""
    if in_reply_to or message.references:
        subject = reply_subject(subject)
    ticket = message.meta.get("ticket")
    if isinstance(ticket, str) and ticket:
        subject = with_ticket(subject, _single_line(ticket, "ticket"))
    body = message.body
    quote = message.meta.get("quote")
    if isinstance(quote, dict) and str(quote.get("body", "")).strip():
        body = (
            body.rstrip()
            + "\n\n"
            + quote_block(
                str(quote.get("author", "")), str(quote.get("at", "")), str(quote["body"])
            )
        )
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id_for(message, domain)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = references_for(message.references, in_reply_to)
    if refs:
        msg["References"] = " ".join(f"<{ref}>" for ref in refs)
    msg[LOOP_HEADER] = _single_line(domain, "domain") or "crmhub"
    msg.set_content(body, cte=_cte(body))
    html = message.meta.get("html")
    if isinstance(html, str) and html.strip():
        clean_html = nh3.clean(html)
        msg.add_alternative(clean_html, subtype="html", cte=_cte(clean_html))
    return msg


def _cte(text: str) -> str | None:
    """Quoted-printable for non-ASCII: 8bit bodies break on relays without 8BITMIME."""
    return None if text.isascii() else "quoted-printable"


def reply_subject(subject: str) -> str:
    """'Re: ' exactly once, also when the customer's client wrote 'RE:' or 'AW:'."""
    subject = subject.strip()
    if REPLY_PREFIX_RE.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"


def normalize_msgid(value: str) -> str:
    """A bare message id (no angle brackets); anything that could break the header is refused."""
    ref = _single_line(value, "message id").strip().strip("<>").strip()
    if not MSGID_TOKEN_RE.match(ref):
        raise ChannelError(f"not a message id: {value[:80]!r}")
    return ref


def message_id_for(message: OutboundMessage, domain: str) -> str:
    """Our own id when the hub gave one (idempotent retries), else a fresh one."""
    if message.message_id:
        return f"<{normalize_msgid(message.message_id)}>"
    return make_msgid(domain=_single_line(domain, "domain") or None)


def references_for(previous: tuple[str, ...], in_reply_to: str) -> list[str]:
    """Previous chain + the parent, de-duplicated, keeping the newest MAX_REFERENCES."""
    refs: list[str] = []
    for value in (*previous, in_reply_to):
        if not value:
            continue
        try:
            ref = normalize_msgid(value)
        except ChannelError:
            continue  # a malformed historic id must not block the reply
        if ref in refs:
            refs.remove(ref)
        refs.append(ref)
    return refs[-MAX_REFERENCES:]


def _single_line(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ChannelError(f"line break in {what}")
    return value


def _address(value: str, what: str) -> str:
    """One mailbox, display name allowed; lists and broken syntax are refused."""
    value = _single_line(value, what).strip()
    parsed = getaddresses([value])
    addr = parsed[0][1] if len(parsed) == 1 else ""
    if "@" not in addr or " " in addr or addr.startswith("@") or addr.endswith("@"):
        raise ChannelError(f"invalid {what} address: {value[:80]!r}")
    return value
