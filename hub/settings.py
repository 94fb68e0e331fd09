"""Settings: config/default.toml (or CRMHUB_CONFIG) overridden by CRMHUB_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.toml"


class TwilioSettings(BaseModel):
    account_sid: str = "ACdemo00000000000000000000000000"
    auth_token: str = Field(default="demo-auth-token", repr=False)
    from_number: str = "+15550000000"
    api_base_url: str = ""


class WeightSettings(BaseModel):
    tier: dict[str, float] = {
        "vip": 500.0,
        "enterprise": 300.0,
        "household": 100.0,
        "standard": 0.0,
    }
    value_per_1000: float = 10.0
    value_cap: float = 200.0
    wait_per_second: float = 1.0
    sla_max: float = 200.0
    sla_window_s: float = 30.0
    channel: dict[str, float] = {"voice": 50.0, "chat": 30.0, "sms": 10.0, "email": 0.0}


class RoutingSettings(BaseModel):
    offer_timeout_s: float = 20.0
    max_missed_offers: int = 3
    # An agent who rejected an interaction or let its offer time out is skipped for it this long
    # after the latest such pass (each one starts it again); then everyone may get it again.
    exclusion_s: float = 60.0
    wrapup_s: float = 10.0
    # A call that ended without a disposition blocks the agent's voice capacity this long at most.
    pending_wrapup_block_s: float = 900.0
    relationship_window_s: float = 30.0
    tick_s: float = 1.0
    default_queue: str = "support"
    weights: WeightSettings = WeightSettings()


class QueueSettings(BaseModel):
    id: str
    name: str = ""
    channels: list[str] = ["voice", "sms", "email", "chat"]
    required_skills: dict[str, int] = {}
    language: str | None = None
    answer_target_s: float = 20.0
    service_level_pct: float = 80.0
    strategy: str = "longest_idle"
    overflow_after_s: float | None = None
    overflow_to: str | None = None
    overflow_min_level: int | None = None
    timezone: str = "UTC"
    hours: list[dict[str, Any]] = []
    avg_handle_s: float = 180.0


class TierRule(BaseModel):
    """First matching rule wins; every condition given must hold."""

    tier: str
    min_lifetime_value: float | None = None
    tag: str | None = None
    kind: str | None = None


class CustomerSettings(BaseModel):
    tier_rules: list[TierRule] = [
        TierRule(tier="vip", tag="vip"),
        TierRule(tier="vip", min_lifetime_value=100_000),
        TierRule(tier="enterprise", kind="enterprise"),
        TierRule(tier="household", kind="household"),
    ]
    default_tier: str = "standard"
    churn_complaint_dispositions: list[str] = ["complaint", "cancel_request"]
    churn_window_days: int = 90
    preference_keys: list[str] = ["preferred_channel", "contact_hours", "products_of_interest"]
    backoffice_url: str = ""  # empty = no back-office lookup
    backoffice_timeout_s: float = 2.0
    backoffice_ttl_s: int = 3600
    backoffice_token: str = Field(default="", repr=False)


class VoiceSettings(BaseModel):
    greeting: str = "Thank you for calling. Please hold while we connect you."
    language: str = "en-US"
    hold_music_url: str = ""  # empty = silence between announcements
    voicemail_message: str = (
        "Nobody can take your call right now. Please leave a message after the tone."
    )
    caller_id: str = ""  # shown to agents' phones when the hub dials them; empty = the caller's


class CtiSettings(BaseModel):
    blocked_numbers: list[str] = []  # answered {"action": "reject", "reason": "busy"}
    hmac_secret: str = Field(default="", repr=False)  # set = X-CTI-Signature required too


class ChatSettings(BaseModel):
    allowed_origins: list[str] = ["*"]  # websites that may embed the widget
    identity_secret: str = Field(default="change-me-chat-identity-secret", repr=False)
    session_ttl_s: int = 30 * 86400
    queue: str = "support"
    max_messages_per_minute: int = 20  # per visitor
    max_messages_per_minute_per_ip: int = 120
    closing_message: str = "Thanks for chatting with us!"
    max_upload_bytes: int = 4_000_000  # images and PDFs from the widget


class Disposition(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    label: str = ""
    label_zh: str = ""


class CannedResponse(BaseModel):
    """Typed as `/shortcut` in a reply box; {customer_name}, {customer_first_name},
    {agent_name} are filled in by the console."""

    shortcut: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""
    body: str = Field(min_length=1, max_length=5000)


class ConsoleSettings(BaseModel):
    dispositions: list[Disposition] = [
        Disposition(code="resolved", label="Resolved", label_zh="已解决"),
        Disposition(code="follow_up", label="Follow-up needed", label_zh="需要跟进"),
        Disposition(code="escalated", label="Escalated", label_zh="已升级"),
        Disposition(code="complaint", label="Complaint", label_zh="投诉"),
        Disposition(code="cancel_request", label="Cancellation request", label_zh="取消请求"),
        Disposition(code="no_answer", label="No answer", label_zh="无人应答"),
    ]
    canned_responses: list[CannedResponse] = [
        CannedResponse(
            shortcut="hello",
            title="Greeting",
            body="Hello {customer_first_name}, this is {agent_name}. How can I help you today?",
        ),
        CannedResponse(
            shortcut="thanks",
            title="Closing",
            body="Thank you for contacting us, {customer_name}. Have a great day!",
        ),
        CannedResponse(
            shortcut="nihao",
            title="问候",
            body="{customer_name}您好，我是{agent_name}，请问有什么可以帮您？",
        ),
    ]


class MailboxSettings(BaseModel):
    """One `[[email.mailboxes]]` entry (channels.email_imap.ImapSettings)."""

    host: str
    port: int = 993
    username: str = ""
    password: str = Field(default="", repr=False)
    mailbox: str = "INBOX"
    use_ssl: bool = True
    poll_s: float = 60.0
    idle_timeout_s: float = 1500.0
    queue: str = ""  # empty = routing.default_queue


class SmtpSettingsModel(BaseModel):
    """`[email.smtp]` (channels.email_smtp.SmtpSettings)."""

    host: str = ""  # empty = no outbound email
    port: int = 587
    username: str = ""
    password: str = Field(default="", repr=False)
    starttls: bool = True
    use_tls: bool = False
    from_addr: str = ""
    timeout_s: float = 30.0


class EmailSettings(BaseModel):
    mailboxes: list[MailboxSettings] = []
    smtp: SmtpSettingsModel = SmtpSettingsModel()
    poll_in_hub: bool = True  # false: run `python -m hub mail-worker` separately


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRMHUB_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///var/crmhub.db"
    database_pool_size: int = Field(default=30, ge=1)  # connections per process (SQLite: kept open)
    redis_url: str = ""
    redis_prefix: str = "crmhub:"  # keys, stream and Socket.IO channel; one prefix per deployment
    public_base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    default_region: str = "US"
    cti_token: str = Field(default="change-me-cti-token", repr=False)
    secret_key: str = Field(default="change-me-secret-key", repr=False)
    token_ttl_s: int = 43200
    max_body_bytes: int = 1_048_576
    max_message_chars: int = 10_000
    max_attachment_bytes: int = 10_000_000  # larger files are listed, not stored
    max_attachments_per_message: int = 20
    demo_data: bool = False
    log_level: str = "INFO"
    # auto: uvloop where it is installed (every platform but Windows), asyncio otherwise.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    # The cyclic collector's thresholds for `serve` (hub/gc_tuning.py); CPython's default is
    # (700, 10, 10), under which B2's full collections stalled the event loop for 160-250 ms.
    gc_thresholds: tuple[
        Annotated[int, Field(ge=100)], Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]
    ] = (50_000, 20, 10)
    run_background: bool = True  # pollers, relays and the routing ticker
    # After a process dies: its claimed outbound sends and unacknowledged bus events go to
    # another process after these many seconds (a send is retried, so it may go out twice).
    send_claim_s: float = 120.0
    send_concurrency: int = 8  # outbound sends in flight per process
    receive_batch_max: int = 64  # inbound SMS / chat contacts stored per transaction; 1 = off
    max_inflight_requests: int = 512  # more concurrent API/webhook requests: 503 + Retry-After
    bus_claim_after_s: float = 30.0
    twilio: TwilioSettings = TwilioSettings()
    routing: RoutingSettings = RoutingSettings()
    customers: CustomerSettings = CustomerSettings()
    voice: VoiceSettings = VoiceSettings()
    cti: CtiSettings = CtiSettings()
    chat: ChatSettings = ChatSettings()
    email: EmailSettings = EmailSettings()
    console: ConsoleSettings = ConsoleSettings()
    queues: list[QueueSettings] = [QueueSettings(id="support", name="Support")]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get("CRMHUB_CONFIG", str(DEFAULT_CONFIG)))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        return (init_settings, env_settings, toml)

    def public_url(self, path: str) -> str:
        """The URL a provider signed: configured public base (behind any proxy) + path."""
        return self.public_base_url.rstrip("/") + path


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
