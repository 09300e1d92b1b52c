"""Settings, read from ``CLOUDSVC_*`` environment variables.

Built once by the app factory or the CLI and handed down; nothing reads the environment at import time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The cutover playbooks shipped in the repository (ansible/cutover beside the cloudsvc package).
DEFAULT_PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "ansible" / "cutover"
DEFAULT_DATABASE_URL = f"sqlite:///{Path('cloudsvc.db').absolute()}"

# Tokens that appear in docs and examples; refused outside development.
_PLACEHOLDER_TOKENS = {"changeme", "dev-bootstrap-token", "secret", "token"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOUDSVC_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="SQLAlchemy URL; SQLite by default")
    bootstrap_token: SecretStr | None = Field(
        default=None, description="If set and no principal exists, a system_admin with this token is created"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413")
    page_size_max: int = Field(default=500, ge=1)
    worker_in_process: bool | None = Field(
        default=None, description="Run the provisioning worker inside 'serve'; unset: only on SQLite"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="If set, GET /metrics needs 'Authorization: Bearer <this token>'"
    )
    worker_lease_seconds: float = Field(default=120, gt=0, description="How long a worker holds a request")
    worker_idle_seconds: float = Field(
        default=1.0, gt=0, description="Pause between passes with nothing to do"
    )
    worker_heartbeat_file: Path = Field(
        default=Path(tempfile.gettempdir()) / "cloudsvc-worker.heartbeat",
        description="The file the worker rewrites on every turn of its loop ('cloudsvc worker --check')",
    )
    worker_heartbeat_max_age_seconds: float = Field(
        default=120, gt=0, description="'cloudsvc worker --check' fails once the last beat is older"
    )
    worker_zone_wait_seconds: float = Field(
        default=1800, ge=0, description="How long a request waits for an unavailable zone before it fails"
    )
    migration_playbook_dir: Path = Field(
        default=DEFAULT_PLAYBOOK_DIR,
        description="Where the cutover playbooks (<step>.yml, rollback_<step>.yml) are",
    )
    migration_work_dir: Path = Field(
        default=Path("migration-work").absolute(), description="Extra var work_dir of cutover playbooks"
    )
    migration_inventory: str = Field(
        default="localhost ansible_connection=local", description="Ansible inventory (INI) of cutover runs"
    )
    migration_server_image: str = Field(
        default="kylin-v10", description="Image of servers a migration asks for"
    )

    @property
    def runs_worker_in_process(self) -> bool:
        if self.worker_in_process is not None:
            return self.worker_in_process
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _heartbeat_outlasts_a_turn(self) -> Settings:
        # A turn of the worker's loop pauses up to worker_idle_seconds: a shorter limit would kill it idle.
        if self.worker_heartbeat_max_age_seconds < 2 * self.worker_idle_seconds:
            raise ValueError(
                "CLOUDSVC_WORKER_HEARTBEAT_MAX_AGE_SECONDS must be at least twice "
                "CLOUDSVC_WORKER_IDLE_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.bootstrap_token is not None:
            token = self.bootstrap_token.get_secret_value()
            if token in _PLACEHOLDER_TOKENS or len(token) < 24:
                raise ValueError("CLOUDSVC_BOOTSTRAP_TOKEN is a placeholder or shorter than 24 characters")
        if self.environment == "production" and self.metrics_token is not None:
            token = self.metrics_token.get_secret_value()
            if token in _PLACEHOLDER_TOKENS or len(token) < 24:
                raise ValueError("CLOUDSVC_METRICS_TOKEN is a placeholder or shorter than 24 characters")
        return self
