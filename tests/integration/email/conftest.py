"""Real servers for the email channel: a private dovecot (IMAP) and a recording aiosmtpd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import dovecot as dovecot_support
from tests.support.dovecot import Dovecot
from tests.support.services import missing
from tests.support.smtp_server import RecordingSmtpServer


def _start_dovecot(*, idle: bool) -> Iterator[Dovecot]:
    if not dovecot_support.available():  # CI=true: a failure, never a silent skip
        missing("dovecot", FileNotFoundError("apt-get install dovecot-imapd"))
    server = Dovecot(idle=idle)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh dovecot per test: UIDs and UIDVALIDITY start from scratch."""
    yield from _start_dovecot(idle=True)


@pytest.fixture
def dovecot_no_idle() -> Iterator[Dovecot]:
    yield from _start_dovecot(idle=False)


@pytest.fixture
def smtp_server() -> Iterator[RecordingSmtpServer]:
    server = RecordingSmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server_auth() -> Iterator[RecordingSmtpServer]:
    server = RecordingSmtpServer(credentials=("mailer", "s3cret-smtp"))
    server.start()
    yield server
    server.stop()
