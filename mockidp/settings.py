"""Settings: flags of `mockidp serve` or MOCKIDP_* environment variables (README.md, Settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCKIDP_", env_ignore_empty=True, extra="ignore")

    seed: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Seed YAML files or folders (comma-separated in the environment).")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8443, ge=0, le=65535, description="Port to listen on.")
    gateway_port: int = Field(8444, ge=0, le=65535, description="Port of the API Management gateway (when the seed "
                              "has apiManagement); 0 serves none.")
    tls: bool = Field(True, description="Serve HTTPS with the local CA's server certificate.")
    data_dir: Path = Field(Path(".mockidp"), description="CA, signing key and SQLite database.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    public_url: str | None = Field(None, description="Origin clients use (issuers, discovery URLs).")
    hostnames: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra names for the server certificate (comma-separated).")
    workers: int = Field(1, ge=1, le=64, description="Worker processes sharing the data dir.")
    access_log: bool = Field(True, description="Log one line per request (never bodies).")
    traces: bool = Field(True, description="Record a decision trace of each token, authorize, devicecode and "
                         "sign-in request (/_mockidp/traces).")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body accepted.")
    log_level: str = Field("info", description="Python log level.")
    device_code_interval: int = Field(5, ge=1, le=60, description="Polling interval the devicecode endpoint asks for.")
    max_header_bytes: int = Field(32 * 1024, ge=1024, description="Largest request line and headers; more gets 400.")
    max_headers: int = Field(100, ge=10, description="Most header fields in one request; more gets 400.")
    header_timeout: float = Field(10, gt=0, description="Seconds to send a request's headers, from its first byte.")
    body_timeout: float = Field(10, gt=0, description="Seconds to send a request's body, after its headers.")
    keep_alive_timeout: float = Field(5, gt=0, description="Seconds a connection may stay open without a request.")
    tls_handshake_timeout: float = Field(5, gt=0, description="Seconds to complete the TLS handshake (and close).")
    federation_fetch_timeout: float = Field(5, gt=0, le=60, description="Seconds to read an external issuer's "
                                            "discovery document or JWKS (workload identity federation), each.")
    control_key: SecretStr | None = Field(None, description="Key that opens /_mockidp/control/ to callers other "
                                          "than loopback (header X-Mockidp-Control-Key).")

    @field_validator("seed", "hostnames", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("public_url is an origin such as https://localhost:8443")
        return value

    @model_validator(mode="after")
    def _two_ports(self) -> Settings:
        if self.gateway_port and self.gateway_port == self.port:
            raise ValueError(f"the gateway port and the port are both {self.port}: give --gateway-port another "
                             "(or --no-gateway)")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mockidp.db').resolve()}"

    def to_env(self) -> dict[str, str]:
        """The same settings for worker processes (they read MOCKIDP_* at start)."""
        env = {
            "MOCKIDP_HOST": self.host, "MOCKIDP_PORT": str(self.port),
            "MOCKIDP_GATEWAY_PORT": str(self.gateway_port), "MOCKIDP_TLS": str(self.tls).lower(),
            "MOCKIDP_DATA_DIR": str(self.data_dir.resolve()), "MOCKIDP_DATABASE_URL": self.resolved_database_url,
            "MOCKIDP_WORKERS": str(self.workers), "MOCKIDP_ACCESS_LOG": str(self.access_log).lower(),
            "MOCKIDP_TRACES": str(self.traces).lower(),
            "MOCKIDP_MAX_BODY_BYTES": str(self.max_body_bytes), "MOCKIDP_LOG_LEVEL": self.log_level,
            "MOCKIDP_DEVICE_CODE_INTERVAL": str(self.device_code_interval),
            "MOCKIDP_MAX_HEADER_BYTES": str(self.max_header_bytes), "MOCKIDP_MAX_HEADERS": str(self.max_headers),
            "MOCKIDP_HEADER_TIMEOUT": str(self.header_timeout), "MOCKIDP_BODY_TIMEOUT": str(self.body_timeout),
            "MOCKIDP_KEEP_ALIVE_TIMEOUT": str(self.keep_alive_timeout),
            "MOCKIDP_TLS_HANDSHAKE_TIMEOUT": str(self.tls_handshake_timeout),
            "MOCKIDP_FEDERATION_FETCH_TIMEOUT": str(self.federation_fetch_timeout),
            "MOCKIDP_SEED": ",".join(str(p.resolve()) for p in self.seed),
            "MOCKIDP_HOSTNAMES": ",".join(self.hostnames),
            "MOCKIDP_CONTROL_KEY": self.control_key.get_secret_value() if self.control_key else "",
        }
        if self.public_url:
            env["MOCKIDP_PUBLIC_URL"] = self.public_url
        return env
