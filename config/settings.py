"""Settings from the environment (prefix ``LOAN_OFFERS_``) or a ``.env`` file.

``prod`` is secure by default: no GraphiQL, no introspection, no field suggestions, masked
errors. ``dev`` relaxes these and says so loudly at start-up.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLICY_FILE = Path(__file__).parent / "policies" / "default.toml"

#: The development profile's HS256 secret when none is configured. Public by design: it only
#: works in the dev profile, and the prod profile refuses every HS256 token.
DEV_SHARED_SECRET = "loan-offers-dev-shared-secret-never-use-in-production"


# scheme://host[:port], as browsers send it in Origin (no path, no trailing slash).
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


def _origin_list(value: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in value.split(",") if o.strip())


class InsecureConfiguration(ValueError):
    """The prod profile was asked to start with a setting that is only safe in development."""


class Profile(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOAN_OFFERS_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    profile: Profile = Profile.DEV
    database_url: str = "sqlite+aiosqlite:///./loan_offers.db"
    redis_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Names this replica in the X-Instance-ID response header (unset: no header). Deployments set
    # it per process (pod name, container name) to see which replica served a request.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    # uvicorn's choices. The standard library's loop, measured against uvloop at 1,000
    # connections (docs/PERFORMANCE.md, "Event loop"): less CPU per answer here, and a saturated
    # uvloop worker stopped accepting new connections (most clients of the trivial baseline
    # waited in the accept queue until they gave up). "auto" picks uvloop when installed.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "asyncio"
    http_parser: Literal["auto", "h11", "httptools"] = "auto"
    backlog: int = Field(default=2048, ge=64)
    # With workers > 1: one SO_REUSEPORT listening socket per worker (the kernel spreads new
    # connections evenly) instead of one socket all workers accept from (config/reuse_port.py).
    reuse_port: bool = True

    # Group commit of generated offer sets (application/offer_set_writer.py): requests that
    # finish while a commit is in flight share the next transaction; each is answered only
    # after its own transaction committed. Off: one transaction per request.
    write_batching: bool = True
    write_batch_max: int = Field(default=128, ge=1)
    write_batch_in_flight: int = Field(default=2, ge=1)

    # Connections kept open per worker, and extra ones opened (then closed) at peaks. Measured
    # (docs/PERFORMANCE.md): overflow connections are reopened over and over under load (150-220
    # a worker in 30 s, ~3 ms of worker CPU each plus a new server process and every statement
    # prepared again), so none by default: at a peak a unit of work waits for a kept one (in
    # order, at most ``db_pool_timeout_s``), which the admission bound keeps short.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # A pooled connection idle this long is pinged at checkout (adapters/sql/database.py).
    db_ping_after_idle_s: float = Field(default=1.0, ge=0)

    cache_l1_ttl_s: float = Field(default=5.0, ge=0)
    cache_ttl_s: float = Field(default=300.0, ge=1)
    cache_timeout_s: float = Field(default=0.25, gt=0)
    # Offer-history entries are kept until the next write for the user (exact, see
    # adapters/cache/history_cache.py); this is their longest life.
    cache_history_ttl_s: float = Field(default=300.0, ge=1)
    cache_retry_after_s: float = Field(default=1.0, ge=0)
    # One Redis connection pool per worker for the rate limiter and the caches
    # (config/redis_clients.py): 0 sizes it from max_in_flight (+ the writers + headroom; 100
    # with admission off). At the cap a command waits up to redis_pool_timeout_s for a free
    # connection instead of failing with "Too many connections".
    redis_max_connections: int = Field(default=0, ge=0)
    redis_pool_timeout_s: float = Field(default=2.0, gt=0)
    # Offer events waiting to be published to Redis by the background publisher
    # (adapters/events/redis_bus.py); beyond it an event reaches this process's subscribers only.
    event_queue_max: int = Field(default=10_000, ge=1)
    policy_refresh_s: float = Field(default=5.0, ge=0)

    policy_file: Path = DEFAULT_POLICY_FILE
    simulation_max_sample: int = Field(default=20_000, ge=1, le=1_000_000)
    simulation_max_request_sample: int = Field(default=5_000, ge=1, le=1_000_000)
    graphiql: bool | None = None
    introspection: bool | None = None

    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    # Automatic persisted queries (graphql_api/persisted_queries.py): documents remembered per
    # process by SHA-256; 0 turns the protocol off.
    persisted_queries: int = Field(default=1024, ge=0)

    max_page_size: int = Field(default=100, ge=1, le=10_000)
    max_policy_source_bytes: int = Field(default=256_000, ge=1_000)

    # WebSocket (subscriptions): cross-origin pages allowed to connect (comma-separated list of
    # origins such as https://app.example.com, or "*"); same-origin pages and non-browser
    # clients always may.
    ws_allowed_origins: str = ""
    ws_max_subscriptions: int = Field(default=10, ge=1)
    ws_connection_init_timeout_s: float = Field(default=5.0, gt=0)

    # Background expiry of offers past validUntil (0 turns the sweeper off on this replica).
    expiry_sweep_interval_s: float = Field(default=30.0, ge=0)
    expiry_sweep_batch: int = Field(default=500, ge=1)
    # How long the answer to an idempotent mutation is kept for retries with the same key.
    idempotency_retention_h: float = Field(default=168.0, gt=0)
    max_directives: int = Field(default=8, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # GraphQL requests running at once per worker (graphql_api/admission.py); 0: no bound.
    max_in_flight: int = Field(default=64, ge=0)

    # Operability (README "Monitoring and resilience").
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")
    log_format: Literal["json", "console"] = "json"
    metrics_enabled: bool = True
    tracing_enabled: bool = False
    tracing_exporter: Literal["otlp", "console"] = "otlp"
    tracing_service_name: str = "loan-offers"
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    read_retry_attempts: int = Field(default=3, ge=1, le=10)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    # On SIGTERM, before the graceful shutdown: refuse new connections, answer what still
    # arrives on open ones with Connection: close (config/graceful_drain.py); 0 turns it off.
    shutdown_drain_s: float = Field(default=1.0, ge=0, le=60)

    # --- authentication (bearer JWTs) ---
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_min_refresh_s: float = Field(default=10.0, ge=0)
    # Verified tokens remembered per worker until their exp (adapters/auth/token_cache.py);
    # about 2.5 KB each with the token; 0 verifies every request's token in full.
    auth_token_cache_max: int = Field(default=10_000, ge=0)
    auth_dev_secret: SecretStr | None = None
    auth_dev_anonymous: bool | None = None
    auth_signing_key_file: Path | None = None
    auth_signing_key_id: str | None = None

    # --- in transit (README "Security: in transit") ---
    # TLS served by uvicorn itself (PEM files; the key may also sit in the certificate file).
    # Unset: plain HTTP, for a TLS-terminating ingress or load balancer in front.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # Strict-Transport-Security on responses served over TLS, or on every response when a
    # TLS-terminating proxy sits in front (behind_tls_proxy). hsts_max_age_s 0: no HSTS.
    behind_tls_proxy: bool = False
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    hsts_include_subdomains: bool = True
    # Origins whose pages may call /graphql from the browser (CORS; comma separated). Empty: no
    # CORS headers at all, cross-origin pages cannot read answers. "*" is refused in prod.
    cors_allowed_origins: str = ""
    cors_max_age_s: int = Field(default=600, ge=0)

    # --- encryption at rest of personal data (README "Encryption at rest") ---
    # Keyring "kid:base64url-key" entries (comma or newline separated), the sealing key first;
    # or a file holding them (a mounted Kubernetes Secret). The blind-index key is separate.
    # Required in prod; dev falls back to a public development key, loudly.
    pii_keys: SecretStr | None = None
    pii_keys_file: Path | None = None
    pii_index_key: SecretStr | None = None
    pii_index_key_file: Path | None = None

    # --- rate limits (moving window; Redis when redis_url is set, else per process) ---
    rate_limit_enabled: bool | None = None
    rate_limit_operations: str = "600/minute"
    rate_limit_mutations: str = "60/minute"

    @field_validator("redis_url", "instance_id", "auth_jwks_url", "auth_issuer", "auth_audience",
                     "auth_signing_key_file", "auth_signing_key_id", "auth_dev_secret",
                     "ssl_certfile", "ssl_keyfile", "pii_keys", "pii_keys_file",
                     "pii_index_key", "pii_index_key_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @property
    def ws_allowed_origin_list(self) -> tuple[str, ...]:
        return _origin_list(self.ws_allowed_origins)

    @model_validator(mode="after")
    def _tls_files(self) -> Settings:
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("LOAN_OFFERS_SSL_KEYFILE needs LOAN_OFFERS_SSL_CERTFILE")
        return self

    @property
    def cors_allowed_origin_list(self) -> tuple[str, ...]:
        return _origin_list(self.cors_allowed_origins)

    @field_validator("cors_allowed_origins", "ws_allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _origin_list(value):
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"not an origin like https://app.example.com: {origin!r}")
        return value

    @property
    def is_dev(self) -> bool:
        return self.profile is Profile.DEV

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.is_dev

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else self.is_dev

    @property
    def rate_limits_enabled(self) -> bool:
        """On in prod, off in dev (load tests and demos from one address), unless set."""
        return self.rate_limit_enabled if self.rate_limit_enabled is not None else not self.is_dev

    @field_validator("rate_limit_operations", "rate_limit_mutations")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '600/minute': {value!r}") from exc
        return value

    @property
    def dev_anonymous_enabled(self) -> bool:
        """Dev only: a request without a token runs as a (loudly logged) staff principal."""
        return self.is_dev and (self.auth_dev_anonymous if self.auth_dev_anonymous is not None
                                else True)

    @property
    def shared_secret(self) -> str | None:
        """The HS256 secret: development only (``check_security`` refuses it in prod)."""
        if self.auth_dev_secret is not None:
            return self.auth_dev_secret.get_secret_value()
        return DEV_SHARED_SECRET if self.is_dev else None

    def check_security(self) -> None:
        """Refuse to serve in the prod profile with development-only authentication."""
        if self.is_dev:
            return
        if self.auth_dev_secret is not None:
            raise InsecureConfiguration("LOAN_OFFERS_AUTH_DEV_SECRET (HS256) is refused in prod")
        if self.auth_dev_anonymous:
            raise InsecureConfiguration("LOAN_OFFERS_AUTH_DEV_ANONYMOUS is refused in prod")
        if not self.auth_jwks_url:
            raise InsecureConfiguration("prod needs LOAN_OFFERS_AUTH_JWKS_URL (and _ISSUER, "
                                        "_AUDIENCE) to verify bearer tokens")
        if "*" in self.cors_allowed_origin_list:
            raise InsecureConfiguration("LOAN_OFFERS_CORS_ALLOWED_ORIGINS=* is refused in prod: "
                                        "name the web app's origins")
        if not (self.auth_issuer and self.auth_audience):
            raise InsecureConfiguration("prod needs LOAN_OFFERS_AUTH_ISSUER and "
                                        "LOAN_OFFERS_AUTH_AUDIENCE")
        self.check_pii_keys()

    def check_pii_keys(self) -> None:
        """Prod never seals personal data with the public development keys."""
        if self.is_dev:
            return
        if self.pii_keys is None and self.pii_keys_file is None:
            raise InsecureConfiguration("prod needs LOAN_OFFERS_PII_KEYS or "
                                        "LOAN_OFFERS_PII_KEYS_FILE (encryption at rest)")
        if self.pii_index_key is None and self.pii_index_key_file is None:
            raise InsecureConfiguration("prod needs LOAN_OFFERS_PII_INDEX_KEY or "
                                        "LOAN_OFFERS_PII_INDEX_KEY_FILE (blind index)")
