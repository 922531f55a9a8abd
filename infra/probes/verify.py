"""Post-deploy verification over HTTP: the service contract's checks as plain functions.

    results = run_checks("https://emergence-app-xyz.a.run.app")      # the contract's checks
    check_health(url), check_metrics(url), check_auth_required(url), check_docs(url), ...

Every request goes through one `requests` session per run: no credentials are ever sent (a
`~/.netrc` entry included: the 401 check must be anonymous), redirects are not followed, every
call has a connect and a read timeout, and connection failures and 429/502/503/504 answers are
retried with exponential backoff (honouring `Retry-After`), bounded both in attempts and in total
seconds per check (`HttpPolicy`). What counts as a pass is decided by the pure functions in
infra/rules/checks.py; this module only fetches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests

from infra.google.client import CredentialsError, retry_after_seconds
from infra.rules.checks import (
    DEFAULT_CHECKS,
    CheckResult,
    CheckSpec,
    judge_leftover_services,
    judge_response,
    judge_revision_count,
    judge_traffic,
    one_line,
    protected_revisions,
)

USER_AGENT = "emergence-cloudrun-verify/1"
MAX_BODY_BYTES = 8 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retries for one check (all in seconds).

    A check makes at most `attempts` requests and gives up once `budget` seconds have passed
    since its first request: the backoff before try n is `backoff * 2**(n-2)`, capped at
    `backoff_max` (or the server's `Retry-After`, capped the same way).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    attempts: int = 4
    backoff: float = 0.5
    backoff_max: float = 8.0
    budget: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        for name in ("connect_timeout", "read_timeout", "budget"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.backoff < 0 or self.backoff_max < 0:
            raise ValueError("backoff and backoff_max must not be negative")


DEFAULT_POLICY = HttpPolicy()


@dataclass(frozen=True)
class Answer:
    """What one check got: an HTTP answer (`status` set) or why there was none (`error`)."""

    status: int | None
    content_type: str
    body: bytes
    latency_ms: float
    attempts: int
    error: str | None = None


class _Anonymous(requests.auth.AuthBase):
    """Strips any Authorization header, so `~/.netrc` cannot lend the checks credentials."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def new_session() -> requests.Session:
    """A session for one verification run: anonymous, no hidden retries, our user agent."""
    session = requests.Session()
    session.auth = _Anonymous()
    session.headers["User-Agent"] = USER_AGENT
    return session


def invoker_headers(audience: str) -> dict[str, str]:
    """Headers that let the checks through to a private service (`publicAccess=private`).

    A Google ID token for the service URL (google-auth: a service account key, workload
    identity or the metadata server) in `X-Serverless-Authorization`: Cloud Run's IAM check
    reads it there and leaves `Authorization` to the app, so the 401 check still sends no app
    credentials. Raises google.auth's errors when no ID token can be had (user credentials from
    `gcloud auth application-default login` cannot mint one).
    """
    import google.auth.transport.requests  # noqa: PLC0415 - only private services need it
    import google.oauth2.id_token  # noqa: PLC0415

    token = google.oauth2.id_token.fetch_id_token(
        google.auth.transport.requests.Request(), audience
    )
    return {"X-Serverless-Authorization": f"Bearer {token}"}


def validate_base_url(url: str) -> str:
    """`https://host[:port][/prefix]` without a trailing slash; ValueError naming the problem.

    A URL carrying a user name or password is refused, and never repeated in the message: the
    checks are anonymous, and what is printed must not show a credential.
    """
    parts = urlsplit(url.strip())
    shown = repr(_hide_credentials(url.strip()))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown} is not an http(s) URL such as https://emergence-app-xyz.run.app")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{shown} carries credentials (user:password@): give the service's base URL "
            "without them; the checks are anonymous"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{shown}: give the service's base URL, without '?' or '#'")
    return url.strip().rstrip("/")


def _hide_credentials(url: str) -> str:
    """`https://user:pw@host/x` -> `https://***@host/x`."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if sep and "@" in authority:
        return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{path}"
    return url


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _describe(exc: BaseException, policy: HttpPolicy) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {policy.connect_timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failure: " + one_line(str(exc), 100)
    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout) or "Read timed out" in text:
        return f"no answer within {policy.read_timeout:g}s (read timeout)"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return f"connection failed: {errno.group(1).strip()}"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "connection failed: the host name does not resolve"
    return one_line(f"{type(exc).__name__}: {text}", 120)


class _BudgetSpent(Exception):
    """The check's time budget ran out while the body was still arriving."""


def _read_body(response: requests.Response, deadline: float, budget: float, clock: Clock) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
        if clock() > deadline:
            raise _BudgetSpent(f"the body did not arrive within {budget:g}s (the check's budget)")
    return b"".join(chunks)[:MAX_BODY_BYTES]


def fetch(
    session: requests.Session,
    url: str,
    policy: HttpPolicy = DEFAULT_POLICY,
    *,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> Answer:
    """GET `url` with the policy's timeouts and bounded retries; never raises for HTTP trouble.

    Retried: connection failures (refused, reset, connect timeout) and 429/502/503/504.
    Not retried: read timeouts (a slow service is the finding) and every other status.
    """
    deadline = clock() + policy.budget
    attempt = 0
    while True:
        attempt += 1
        remaining = max(deadline - clock(), 0.001)
        timeout = (min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining))
        started = clock()
        retry_after = None
        try:
            response = session.get(
                url, timeout=timeout, allow_redirects=False, stream=True, headers=headers
            )
        except requests.exceptions.ConnectionError as exc:  # refused, reset, connect timeout
            answer = Answer(
                None, "", b"", (clock() - started) * 1000, attempt, _describe(exc, policy)
            )
            retryable = True
        except requests.RequestException as exc:  # read timeout, bad URL, ...
            answer = Answer(
                None, "", b"", (clock() - started) * 1000, attempt, _describe(exc, policy)
            )
            retryable = False
        else:
            with response:
                try:
                    body = _read_body(response, deadline, policy.budget, clock)
                except _BudgetSpent as exc:
                    return Answer(response.status_code, "", b"", 0.0, attempt, str(exc))
                except requests.RequestException as exc:
                    error = "the answer's body broke off: " + _describe(exc, policy)
                    return Answer(response.status_code, "", b"", 0.0, attempt, error)
                answer = Answer(
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    body,
                    (clock() - started) * 1000,
                    attempt,
                )
            retryable = response.status_code in RETRY_STATUSES
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if not retryable or attempt >= policy.attempts:
            return answer
        wait = policy.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
        wait = min(wait, policy.backoff_max)
        if clock() + wait >= deadline:
            return answer
        sleep(wait)


def run_check(
    base_url: str,
    spec: CheckSpec,
    *,
    policy: HttpPolicy = DEFAULT_POLICY,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> CheckResult:
    """Run one check against the service at `base_url`."""
    own = session is None
    session = session or new_session()
    try:
        answer = fetch(
            session,
            join_url(base_url, spec.path),
            policy,
            headers=headers,
            sleep=sleep,
            clock=clock,
        )
    finally:
        if own:
            session.close()
    if answer.error is not None:
        passed, reason = False, answer.error
    else:
        passed, reason = judge_response(spec, answer.status, answer.content_type, answer.body)
    return CheckResult(
        name=spec.name,
        target=spec.path,
        passed=passed,
        status=answer.status,
        latency_ms=round(answer.latency_ms, 1),
        reason=one_line(reason),
        attempts=answer.attempts,
    )


def run_checks(
    base_url: str,
    specs: Iterable[CheckSpec] = DEFAULT_CHECKS,
    *,
    policy: HttpPolicy = DEFAULT_POLICY,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> list[CheckResult]:
    """Run every check, in order, over one session; one result per check (ValueError only for
    a base URL that is not http(s))."""
    base_url = validate_base_url(base_url)
    with new_session() as session:
        return [
            run_check(
                base_url,
                spec,
                policy=policy,
                session=session,
                headers=headers,
                sleep=sleep,
                clock=clock,
            )
            for spec in specs
        ]


def _default(name: str) -> CheckSpec:
    return next(spec for spec in DEFAULT_CHECKS if spec.name == name)


def check_health(
    base_url: str, *, policy: HttpPolicy = DEFAULT_POLICY, session: requests.Session | None = None
) -> CheckResult:
    """GET /api/health: 200, JSON, `status == "healthy"`."""
    return run_check(
        validate_base_url(base_url), _default("health"), policy=policy, session=session
    )


def check_metrics(
    base_url: str, *, policy: HttpPolicy = DEFAULT_POLICY, session: requests.Session | None = None
) -> CheckResult:
    """GET /api/metrics: 200, Prometheus text with at least one sample."""
    return run_check(
        validate_base_url(base_url), _default("metrics"), policy=policy, session=session
    )


def check_auth_required(
    base_url: str, *, policy: HttpPolicy = DEFAULT_POLICY, session: requests.Session | None = None
) -> CheckResult:
    """GET /api/chat/sessions without credentials: exactly 401."""
    return run_check(validate_base_url(base_url), _default("auth"), policy=policy, session=session)


def check_docs(
    base_url: str, *, policy: HttpPolicy = DEFAULT_POLICY, session: requests.Session | None = None
) -> CheckResult:
    """GET /docs: 200 text/html (the OpenAPI UI)."""
    return run_check(validate_base_url(base_url), _default("docs"), policy=policy, session=session)


def check_openapi(
    base_url: str, *, policy: HttpPolicy = DEFAULT_POLICY, session: requests.Session | None = None
) -> CheckResult:
    """GET /openapi.json: 200, valid JSON."""
    return run_check(
        validate_base_url(base_url), _default("openapi"), policy=policy, session=session
    )


# --------------------------------------------------------------------------- Cloud Run Admin API


class ApiClient(Protocol):
    """What the Admin API checks need of infra.google.client.GoogleApiClient."""

    def get(self, path: str) -> dict[str, Any]: ...

    def paginate(self, path: str, items_key: str) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class AdminTarget:
    """What the Admin API checks look at, and what they expect."""

    project: str
    region: str
    service: str
    revisions_to_keep: int
    expected_revision: str | None = None  # None: the service's latest ready revision
    pinned_revision: str | None = None  # the rollback target, kept whatever the count
    allowed_services: tuple[str, ...] = ()
    revision_slack: int = 0  # 1 when retention has not yet pruned this deploy's surplus

    @property
    def parent(self) -> str:
        return f"v2/projects/{self.project}/locations/{self.region}"


@dataclass(frozen=True)
class AdminReport:
    results: list[CheckResult]
    service: dict[str, Any] | None  # the Service as the API returned it (None: unreadable)
    revisions: list[dict[str, Any]] | None  # the service's revisions (None: not listed)
    service_error: str = ""  # why the service could not be read, in full (the row is cut short)


T = TypeVar("T")


def _call(
    name: str, target: str, call: Callable[[], T], clock: Clock
) -> tuple[T | None, float, CheckResult | None, str]:
    """(value, latency ms, None, "") or (None, latency ms, a failed result naming the API
    error, the error's whole text)."""
    started = clock()
    try:
        value = call()
    except CredentialsError:
        raise  # no credentials: the caller decides (the command skips, the gate fails)
    except Exception as exc:  # noqa: BLE001 - any API failure fails the check, with its reason
        latency = round((clock() - started) * 1000, 1)
        reason = one_line(str(exc) or type(exc).__name__, limit=10_000)
        permission = getattr(exc, "permission", None)
        if permission:
            reason = f"missing permission {permission}: {reason}"
        status = getattr(exc, "status_code", None)
        failed = CheckResult(name, target, False, status, latency, one_line(reason))
        return None, latency, failed, reason
    return value, round((clock() - started) * 1000, 1), None, ""


def _timed(result: CheckResult, latency_ms: float) -> CheckResult:
    return CheckResult(result.name, result.target, result.passed, 200, latency_ms, result.reason)


def run_admin_checks(
    client: ApiClient, target: AdminTarget, *, clock: Clock = time.monotonic
) -> AdminReport:
    """Traffic, leftover services and revision count, read through the shared Admin API client.

    Three reads (the service, the region's services, the service's revisions); each check fails
    on its own, with the API's reason, when its read fails. CredentialsError propagates.
    """
    service_path = f"{target.parent}/services/{target.service}"
    results: list[CheckResult] = []

    service, ms, failed, service_error = _call(
        "traffic", f"traffic of {target.service}", lambda: client.get(service_path), clock
    )
    results.append(failed or _timed(judge_traffic(service or {}, target.expected_revision), ms))

    services, ms, failed, _ = _call(
        "services",
        f"services in {target.region}",
        lambda: list(client.paginate(f"{target.parent}/services", "services")),
        clock,
    )
    leftovers = judge_leftover_services(
        services or [], target.service, target.allowed_services, target.region
    )
    results.append(failed or _timed(leftovers, ms))

    revisions, ms, failed, _ = _call(
        "revisions",
        "revisions kept",
        lambda: list(client.paginate(f"{service_path}/revisions", "revisions")),
        clock,
    )
    protected = protected_revisions(service or {}, target.pinned_revision)
    count = judge_revision_count(
        revisions or [], target.revisions_to_keep, protected, target.revision_slack
    )
    results.append(failed or _timed(count, ms))
    return AdminReport(results, service, revisions, service_error)
