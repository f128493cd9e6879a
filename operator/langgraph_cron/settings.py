"""Operator-wide settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, SecretStr


class Settings(BaseModel):
    server_url: str | None = Field(default=None, description="LGCRON_SERVER_URL: default Agent Server URL.")
    # SecretStr keeps the key out of repr() and therefore out of any log line that prints settings.
    api_key: SecretStr | None = Field(default=None, description="LGCRON_API_KEY: default API key.")
    resync_interval: float = Field(default=300.0, gt=0, description="LGCRON_RESYNC_INTERVAL: seconds between drift checks.")
    request_timeout: float = Field(default=30.0, gt=0, description="LGCRON_REQUEST_TIMEOUT: seconds per HTTP request.")
    ca_bundle: str | None = Field(default=None, description="LGCRON_CA_BUNDLE: PEM file of CAs to trust for TLS.")
    forward_end_time: bool = Field(
        default=False,
        description=(
            "LGCRON_FORWARD_END_TIME: also send endTime to the server. Off by default because the in-memory "
            "runtime's scheduler fails on every poll once any cron has an end_time; the operator enforces it itself."
        ),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            "server_url": env.get("LGCRON_SERVER_URL") or None,
            "api_key": env.get("LGCRON_API_KEY") or None,
            "resync_interval": env.get("LGCRON_RESYNC_INTERVAL"),
            "request_timeout": env.get("LGCRON_REQUEST_TIMEOUT"),
            "ca_bundle": env.get("LGCRON_CA_BUNDLE") or None,
            "forward_end_time": env.get("LGCRON_FORWARD_END_TIME"),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})

    @property
    def tls_verify(self) -> bool | str:
        return self.ca_bundle or True
