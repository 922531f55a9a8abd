"""The app's settings, read once from the environment at start.

Pure: `Settings.from_env(env)` takes a mapping and returns a frozen object or raises
`ConfigError` whose message names every bad variable and the fix. It never puts a secret
value in a message (or in `repr`), so the one log line printed on refusal is safe.
No web framework is imported here, so the tests import this module directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off", ""})

# Every SMTP variable the app needs when EMAIL_ENABLED is on (SMTP_PASSWORD comes from
# Secret Manager on Cloud Run, from the environment or a file in `python -m infra local`).
SMTP_VARIABLES = (
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_FROM_EMAIL",
    "SMTP_FROM_NAME",
    "SMTP_USE_TLS",
    "SMTP_PASSWORD",
)

DEFAULT_PORT = 8080
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """The environment cannot run the app; the message says which variable and how to fix it."""


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    user: str
    from_email: str
    from_name: str
    use_tls: bool
    password: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    port: int = DEFAULT_PORT
    service: str = "emergence-app"
    revision: str = "local"
    configuration: str = ""
    version: str = "dev"
    email: EmailSettings | None = None
    # SHA-256 digests (hex) of the bearer tokens accepted by the protected API; empty: none is.
    token_sha256: tuple[str, ...] = ()
    graceful_shutdown_seconds: int = 8
    log_level: str = "info"
    access_log: bool = False

    @property
    def email_enabled(self) -> bool:
        return self.email is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []
        port = _int(env, "PORT", problems, default=DEFAULT_PORT, low=1, high=65535)
        grace = _int(env, "GRACEFUL_SHUTDOWN_SECONDS", problems, default=8, low=0, high=300)
        email = _email(env, problems)
        tokens = _tokens(env, problems)
        access_log = _bool(env, "ACCESS_LOG", False, problems)
        level = env.get("LOG_LEVEL", "info").strip().lower() or "info"
        if level not in {"critical", "error", "warning", "info", "debug", "trace"}:
            problems.append(
                f"LOG_LEVEL={level!r} is not a log level (use debug, info, warning or error)"
            )
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(
            port=port,
            service=env.get("K_SERVICE", "").strip() or "emergence-app",
            revision=env.get("K_REVISION", "").strip() or "local",
            configuration=env.get("K_CONFIGURATION", "").strip(),
            version=env.get("APP_VERSION", "").strip() or "dev",
            email=email,
            token_sha256=tokens,
            graceful_shutdown_seconds=grace,
            log_level=level,
            access_log=access_log,
        )

    def token_is_valid(self, token: str) -> bool:
        """Whether `token` is one of the configured bearer tokens (constant-time comparison)."""
        if not token or not self.token_sha256:
            return False
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        # Compare against every configured digest so the time does not tell which one matched.
        matches = [hmac.compare_digest(digest, want) for want in self.token_sha256]
        return any(matches)


def _int(
    env: Mapping[str, str], name: str, problems: list[str], *, default: int, low: int, high: int
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a whole number (use {low}..{high})")
        return default
    if not low <= value <= high:
        problems.append(f"{name}={value} is out of range (use {low}..{high})")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    if name not in env:
        return default
    raw = env[name].strip().lower()
    if raw in TRUE_VALUES:
        return True
    if raw in FALSE_VALUES:
        return False
    problems.append(f"{name}={env[name]!r} is not a boolean (use 1 or 0)")
    return default


def _email(env: Mapping[str, str], problems: list[str]) -> EmailSettings | None:
    if not _bool(env, "EMAIL_ENABLED", False, problems):
        return None
    missing = [name for name in SMTP_VARIABLES if not env.get(name, "").strip()]
    if missing:
        problems.append(
            "EMAIL_ENABLED=1 but the SMTP settings are incomplete: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
            "(set them, or set EMAIL_ENABLED=0)"
        )
        return None
    before = len(problems)
    port = _int(env, "SMTP_PORT", problems, default=587, low=1, high=65535)
    use_tls = _bool(env, "SMTP_USE_TLS", True, problems)
    if "@" not in env["SMTP_FROM_EMAIL"]:
        problems.append(f"SMTP_FROM_EMAIL={env['SMTP_FROM_EMAIL']!r} is not an e-mail address")
    if len(problems) > before:
        return None
    return EmailSettings(
        host=env["SMTP_HOST"].strip(),
        port=port,
        user=env["SMTP_USER"].strip(),
        from_email=env["SMTP_FROM_EMAIL"].strip(),
        from_name=env["SMTP_FROM_NAME"].strip(),
        use_tls=use_tls,
        password=env["SMTP_PASSWORD"],
    )


def _tokens(env: Mapping[str, str], problems: list[str]) -> tuple[str, ...]:
    raw = env.get("API_TOKEN_SHA256", "")
    digests = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    bad = [i + 1 for i, digest in enumerate(digests) if not _SHA256_HEX.match(digest)]
    if bad:
        problems.append(
            "API_TOKEN_SHA256 must hold comma-separated SHA-256 hex digests of the accepted "
            f"tokens (entry {', '.join(map(str, bad))} is not one; make one with "
            '`printf %s "$TOKEN" | sha256sum`)'
        )
        return ()
    return digests
