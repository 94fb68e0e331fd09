"""A logging filter that blanks configured secrets out of every record, whatever logs it.

Our own code never formats a secret into a message; this is the guard for what we do not own
(a library's debug line, an exception that carries a URL with the CTI token, a DSN with a password).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from hub.settings import Settings

MASK = "***"
MIN_SECRET_CHARS = 6  # shorter values would blank ordinary words


def settings_secrets(settings: Settings) -> list[str]:
    values = [
        settings.twilio.auth_token,
        settings.cti_token,
        settings.secret_key,
        settings.cti.hmac_secret,
        settings.chat.identity_secret,
        settings.email.smtp.password,
        *(box.password for box in settings.email.mailboxes),
    ]
    for url in (settings.database_url, settings.redis_url):
        password = urlsplit(url).password if url else None
        values.append(password or "")
    return values


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        found = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in reversed(found))) if found else None
        )

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install(settings: Settings) -> RedactSecrets:
    """On every handler of the root logger (a filter on a logger would miss child loggers)."""
    guard = RedactSecrets(settings_secrets(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(guard)
    return guard
