"""One typed settings object, read from CARNET_* environment variables and an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARNET_", env_file=".env", extra="ignore")

    env: str = "development"  # development | production | test
    database_url: str = "sqlite:///var/carnet.db"
    redis_url: str = ""
    secret_key: str = DEV_SECRET
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: str = ""  # "json" or "text"; default depends on env
    storage_dir: Path = Path("var/files")
    backup_dir: Path = Path("var/backups")
    default_language: str = "fr"
    default_timezone: str = "Europe/Paris"

    rate_limit_login: str = "10/minute"
    rate_limit_api: str = "600/minute"
    rate_limit_search: str = "120/minute"
    # The establishment portal (/p/<token>, no account): page views and posts per IP, and
    # requests submitted per link.
    rate_limit_portal_views: str = "20/minute"
    rate_limit_portal_requests: str = "5/hour"
    workflow_webhook_rate: str = "10/minute"  # per incoming-webhook URL; a workflow may set its own

    session_idle_minutes: int = 30 * 16  # a working day without activity
    session_absolute_hours: int = 12
    login_lockout_attempts: int = 10
    login_lockout_minutes: int = 15

    attachment_max_bytes: int = 20 * 1024 * 1024
    import_max_bytes: int = 50 * 1024 * 1024
    request_max_bytes: int = 2 * 1024 * 1024

    runner: str = "embedded"  # embedded | celery | off
    runner_threads: int = 4
    job_lease_seconds: int = 600
    jobs_max_lag_seconds: int = 300

    # Webhook and workflow HTTP targets on private, loopback or link-local addresses are refused
    # unless this is on (a CRM on a private network posting to an internal service; the tests).
    webhook_allow_private_targets: bool = False
    retention_webhook_delivery_days: int = 30

    retention_request_log_days: int = 30
    retention_idempotency_hours: int = 24
    retention_import_days: int = 90
    retention_jobs_days: int = 30

    # Outgoing email: smtp://user:pass@host:587?starttls=true or smtps://user:pass@host:465.
    # Empty: emails are kept as rows marked "not sent" (never silently dropped).
    smtp_url: str = ""
    mail_from: str = "Carnet <carnet@localhost>"

    # Task reminders: days relative to the due date (J-1, J-0, J+1 when still open), sent at
    # `task_reminder_hour` in the assignee's time zone.
    task_reminder_offsets: str = "-1,0,1"
    task_reminder_hour: int = 8
    # A recurring task's next occurrence exists this many days before it is due, even when the
    # current one is not completed yet.
    task_recurrence_lead_days: int = 1
    # How often the notification stream checks the unread count.
    notifications_stream_seconds: float = 3.0

    @field_validator("runner")
    @classmethod
    def _runner(cls, value: str) -> str:
        if value not in ("embedded", "celery", "off"):
            raise ValueError("must be embedded, celery or off")
        return value

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("fr", "en"):
            raise ValueError("must be fr or en")
        return value

    @field_validator("task_reminder_offsets")
    @classmethod
    def _offsets(cls, value: str) -> str:
        try:
            [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("must be whole numbers of days separated by commas, e.g. -1,0,1")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.env == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "CARNET_SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        if self.log_format:
            return self.log_format == "json"
        return self.env == "production"

    @property
    def reminder_offsets(self) -> list[int]:
        return sorted({int(part) for part in self.task_reminder_offsets.split(",") if part.strip()})

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


@lru_cache
def get_settings() -> Settings:
    return Settings()
