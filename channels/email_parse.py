"""Normalize one raw RFC 5322 message into an InboundContact (pure: no I/O, no database)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import errors, policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from channels.base import Attachment, ChannelError, InboundContact
from channels.email_text import decode_part, html_to_text, split_quoted, utf8_or_latin1

MAX_REFS = 50
MAX_ATTACHMENTS = 50
HEADER_ERRORS = (errors.MessageError, ValueError, IndexError, TypeError, AttributeError)
MSGID_RE = re.compile(r"<([^<>\s]+)>")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
# Chinese mail labelled GB2312 routinely carries GBK bytes (and Big5 carries HKSCS): read them
# with the superset codec, which decodes the labelled charset identically.
SUPERSET_CHARSETS = {
    b"gb2312": b"gb18030",
    b"gbk": b"gb18030",
    b"x-gbk": b"gb18030",
    b"cp936": b"gb18030",
    b"big5": b"big5hkscs",
}
CHARSET_LABEL_RE = re.compile(
    rb"(charset\s*=\s*\"?|=\?)(gb2312|gbk|x-gbk|cp936|big5)(?=[\"?;\s]|$)", re.IGNORECASE
)


def superset_charsets(raw: bytes) -> bytes:
    return CHARSET_LABEL_RE.sub(lambda m: m.group(1) + SUPERSET_CHARSETS[m.group(2).lower()], raw)


def parse_email(
    raw: bytes, *, max_body_chars: int = 10000, max_attachment_bytes: int = 10_000_000
) -> InboundContact:
    """Parse with the stdlib (policy.default); tolerate broken mail, reject non-mail.

    The stdlib parser itself crashes on some hostile input (an ISO-2022-JP RFC 2231 filename
    with a cut escape sequence raises UnicodeDecodeError, found by hypothesis): any such crash
    is a ChannelError, so the mail is kept raw instead of wedging its mailbox."""
    try:
        return _parse_email(raw, max_body_chars, max_attachment_bytes)
    except ChannelError:
        raise
    except Exception as exc:
        raise ChannelError(f"unreadable MIME ({type(exc).__name__}: {exc})"[:300]) from None


def _parse_email(raw: bytes, max_body_chars: int, max_attachment_bytes: int) -> InboundContact:
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise ChannelError("empty message")
    msg = BytesParser(policy=policy.default).parsebytes(superset_charsets(bytes(raw)))
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise ChannelError("not an email: no header fields")
    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    if not senders:
        raise ChannelError("not an email: no From address")
    sender_name, sender = senders[0]
    body_part, text = _body(msg)
    new_text, quoted = split_quoted(text)
    meta = _meta(msg, quoted)
    forwarded = _forwarded_text(msg)
    if forwarded:
        new_text = f"{new_text}\n\n{forwarded}".strip()
    if len(new_text) > max_body_chars:
        new_text, meta["truncated"] = new_text[:max_body_chars], True
    attachments = _attachments(msg, body_part, max_attachment_bytes)
    if any(a.data is None for a in attachments):
        meta["attachments_skipped"] = [a.filename for a in attachments if a.data is None]
    to = _addresses(msg, "To")
    subject = _header(msg, "Subject")[:998]
    # Same Message-ID and same content = the same mail (a re-fetch after a reconnect or a
    # UIDVALIDITY change); same Message-ID with other content = another mail (broken senders
    # reuse ids), which the hub keeps.
    meta["content_hash"] = hashlib.sha256(
        "\x00".join((sender, subject, text)).encode("utf-8", "surrogatepass")
    ).hexdigest()
    meta["sender_name"] = sender_name[:200]
    return InboundContact(
        channel="email",
        provider_ref=_message_id(msg, bytes(raw)),
        sender=sender,
        recipient=to[0][1] if to else "",
        body=new_text,
        subject=subject,
        sender_name=sender_name,
        thread_refs=_thread_refs(msg),
        attachments=attachments,
        received_at=_date(msg),
        meta=meta,
    )


def clean(value: str) -> str:
    """Undo surrogate-escaped 8-bit header bytes (utf-8, else latin-1) and drop control chars."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = utf8_or_latin1(value.encode("utf-8", "surrogateescape"))
    return CONTROL_RE.sub("", value)


def _header(msg: MIMEPart, name: str) -> str:
    """A header as decoded text; malformed RFC 2047 or syntax never raises."""
    try:
        value = msg.get(name)
    except HEADER_ERRORS:
        value = _raw_header(msg, name)
    return clean(" ".join(str(value or "").split()))


def _raw_header(msg: MIMEPart, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _addresses(msg: MIMEPart, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) pairs; tolerant of odd syntax."""
    out: list[tuple[str, str]] = []
    try:
        header = msg.get(name)
        parsed = [(a.display_name, a.addr_spec) for a in getattr(header, "addresses", ())]
    except HEADER_ERRORS:
        parsed = []
    if not parsed:
        parsed = getaddresses([_header(msg, name)])
    for display, addr in parsed:
        addr = clean(addr).strip().strip("<>").lower()
        if addr:
            out.append((clean(display).strip()[:200], addr[:320]))
    return out


def _message_id(msg: MIMEPart, raw: bytes) -> str:
    value = _header(msg, "Message-ID")
    match = MSGID_RE.search(value)
    ref = match.group(1) if match else value.strip("<> ")
    if not ref or len(ref) > 500 or " " in ref:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    return ref


def _thread_refs(msg: MIMEPart) -> tuple[str, ...]:
    """Parent first (In-Reply-To), then the References chain; de-duplicated, bounded."""
    refs: list[str] = []
    for name in ("In-Reply-To", "References"):
        value = _header(msg, name)
        found = MSGID_RE.findall(value) or [t.strip("<>") for t in value.split()]
        refs.extend(r for r in found if r and len(r) <= 500 and r not in refs)
    return tuple(refs[:MAX_REFS])


def _date(msg: MIMEPart) -> datetime | None:
    value = _header(msg, "Date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except HEADER_ERRORS:
        return None
    if when.tzinfo is None:  # "-0000" means "UTC, zone unknown" (RFC 5322 3.3)
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _body(msg: MIMEPart) -> tuple[MIMEPart | None, str]:
    """Prefer non-empty text/plain; else HTML rendered to text by the stdlib HTML parser."""
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None and not plain.is_attachment():
        text = decode_part(plain).replace("\r\n", "\n")
        if text.strip():
            return plain, clean_body(text)
    html = msg.get_body(preferencelist=("html",))
    if html is not None and not html.is_attachment():
        return html, clean_body(html_to_text(decode_part(html)))
    return None, ""


def clean_body(text: str) -> str:
    return CONTROL_RE.sub("", text).strip()


def _leaves(part: MIMEPart) -> list[MIMEPart]:
    """Leaf parts; message/* parts (forwards, bounce reports) are kept whole."""
    if part.get_content_maintype() == "message" or not part.is_multipart():
        return [part]
    return [leaf for sub in part.iter_parts() for leaf in _leaves(sub)]


def _attachments(
    msg: MIMEPart, body_part: MIMEPart | None, max_bytes: int
) -> tuple[Attachment, ...]:
    out: list[Attachment] = []
    for n, part in enumerate(_leaves(msg)):
        if part is body_part:
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        plain_part = not filename and part.get_content_disposition() != "attachment"
        if plain_part and (ctype.startswith("text/") or ctype == "message/delivery-status"):
            continue  # alternative renderings and bounce reports are not files
        data = _part_bytes(part)
        name = _safe_filename(filename, n, ctype)
        keep = data if len(data) <= max_bytes else None
        out.append(Attachment(filename=name, content_type=ctype[:100], size=len(data), data=keep))
        if len(out) >= MAX_ATTACHMENTS:
            break
    return tuple(out)


def _part_bytes(part: MIMEPart) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], MIMEPart):
            return bytes(inner[0].as_bytes(policy=policy.SMTP))
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _safe_filename(filename: str | None, n: int, ctype: str) -> str:
    """No paths, no control characters, bounded: the name is shown to agents and stored."""
    name = clean(filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip(" .")
    if not name:
        ext = {"message/rfc822": ".eml"}.get(ctype, "." + ctype.split("/")[-1][:10])
        name = f"part-{n + 1}{ext}"
    return name[-200:]


def _forwarded_text(msg: MIMEPart) -> str:
    """Text of attached (forwarded) messages, so agents see what the customer forwarded."""
    chunks = []
    for part in _leaves(msg):
        inner = part.get_payload() if part.get_content_type() == "message/rfc822" else None
        if isinstance(inner, list) and inner and isinstance(inner[0], MIMEPart):
            fwd = inner[0]
            head = f"From: {_header(fwd, 'From')}\nSubject: {_header(fwd, 'Subject')}"
            chunks.append(f"---------- Forwarded message ----------\n{head}\n\n{_body(fwd)[1]}")
    return "\n\n".join(chunks)


def _meta(msg: MIMEPart, quoted: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    reply_to = _addresses(msg, "Reply-To")
    if reply_to:
        meta["reply_to"] = reply_to[0][1]
    for name in ("To", "Cc"):
        addrs = [addr for _, addr in _addresses(msg, name)]
        if addrs:
            meta[name.lower()] = addrs[:50]
    if quoted:
        meta["quoted"] = quoted[:20000]
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted:
        meta["auto_submitted"] = auto_submitted[:100]
    auto = auto_kind(msg)
    if auto:
        meta["auto"] = auto
    bounce = _bounce_details(msg)
    if bounce:
        meta["bounce"] = bounce
    return meta


def auto_kind(msg: MIMEPart) -> str | None:
    """'own' | 'bounce' | 'autoreply' | 'bulk' | None: mail the hub must never answer."""
    if _header(msg, "X-Crmhub-Loop"):
        return "own"  # our own outgoing mail read back (a copy, a loop through a forwarder)
    if msg.get_content_type() == "multipart/report" or any(
        p.get_content_type() == "message/delivery-status" for p in _leaves(msg)
    ):
        return "bounce"
    sender = (_addresses(msg, "From") or [("", "")])[0][1]
    if sender.split("@")[0] in {"mailer-daemon", "postmaster"}:
        return "bounce"
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    precedence = _header(msg, "Precedence").lower()
    if (auto_submitted and auto_submitted != "no") or precedence == "auto_reply":
        return "autoreply"
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return "autoreply"
    if precedence in BULK_PRECEDENCE or _header(msg, "List-Id"):
        return "bulk"
    return None


def _bounce_details(msg: MIMEPart) -> dict[str, str]:
    """Final-Recipient / Action / Status from a delivery-status report (RFC 3464)."""
    for part in _leaves(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else []:
            if not isinstance(block, MIMEPart):
                continue
            details = {
                key: clean(str(block.get(header, "")))[:300]
                for key, header in (
                    ("recipient", "Final-Recipient"),
                    ("action", "Action"),
                    ("status", "Status"),
                    ("diagnostic", "Diagnostic-Code"),
                )
            }
            details["recipient"] = details["recipient"].split(";")[-1].strip().lower()
            return {k: v for k, v in details.items() if v}
    return {}
