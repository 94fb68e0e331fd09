"""A private, throw-away dovecot IMAP server for integration tests (real IDLE, UIDVALIDITY)."""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import free_port

DOVECOT = "/usr/sbin/dovecot"
USER = "agent@crmhub.test"
PASSWORD = "imap-test-password"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{root}/mail/%u
mail_fsync = never
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """Owns one dovecot master process, its config, passwd file and Maildir in a temp dir."""

    def __init__(self, *, idle: bool = True) -> None:
        # A short path: dovecot's unix sockets live under base_dir (108-byte sun_path limit).
        self.root = Path(tempfile.mkdtemp(prefix="crmhub-dovecot-"))
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = USER
        self.password = PASSWORD
        self.idle = idle
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self, timeout: float = 15.0) -> None:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.root.chmod(0o755)  # login/internal processes run as unprivileged users
        users = _users()
        for sub in ("mail", "home"):
            os.chown(self.root / sub, int(str(users["uid"])), int(str(users["gid"])))
        config = CONFIG.format(root=self.root, port=self.port, **users)
        if not self.idle:  # advertise a server without IDLE so the polling path runs
            config += "imap_capability = IMAP4rev1 LITERAL+ SASL-IR UIDPLUS\n"
        self.config_path.write_text(config)
        self._spawn(timeout)

    def _spawn(self, timeout: float) -> None:
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # dovecot + its children form one group we can kill
        )
        self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start on port {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        stderr = b""
        if self.proc is not None and self.proc.poll() is not None and self.proc.stderr:
            stderr = self.proc.stderr.read()
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-4000:] + stderr.decode(errors="replace")

    def connect(self) -> imaplib.IMAP4:
        """A logged-in stdlib client (the test's 'other mail client')."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        with self._session() as client:
            typ, data = client.append(mailbox, "", None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")

    def create_mailbox(self, mailbox: str) -> None:
        with self._session() as client:
            client.create(mailbox)

    def delete_mailbox(self, mailbox: str) -> None:
        with self._session() as client:
            typ, data = client.delete(mailbox)
            if typ != "OK":
                raise RuntimeError(f"DELETE failed: {data!r}")

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        with self._session() as client:
            _, data = client.status(mailbox, "(UIDVALIDITY)")
            text = (data[0] or b"").decode()
            return int(text.rsplit("UIDVALIDITY", 1)[1].strip(" )"))

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4]:
        client = self.connect()
        try:
            yield client
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()

    def restart(self, timeout: float = 15.0) -> None:
        """Drop every client connection, keep the mail: for reconnect tests."""
        self._terminate()
        self._spawn(timeout)

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def _terminate(self) -> None:
        """SIGKILL our own process group: a graceful dovecot shutdown costs a second per test."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None


def _users() -> dict[str, object]:
    """As root, dovecot refuses root login processes: use Debian's dovecot/dovenull users."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("dovecot")  # dovecot refuses uid 0 for mail access
        return {
            "internal_user": "dovecot",
            "login_user": "dovenull",
            "uid": mail.pw_uid,
            "gid": mail.pw_gid,
        }
    me = pwd.getpwuid(os.geteuid()).pw_name
    return {"internal_user": me, "login_user": me, "uid": os.geteuid(), "gid": os.getegid()}


def available() -> bool:
    return Path(DOVECOT).exists()
