"""Post-deploy verification over HTTP: the service contract's checks as plain functions.

    results = run_checks("https://emergence-app-xyz.a.run.app")      # the contract's checks
    check_health(url), check_metrics(url), check_auth_required(url), check_docs(url), ...

Every request goes through one `requests` session per run: no credentials are ever sent (a
`~/.netrc` entry included: the 401 check must be anonymous), redirects are not followed, every
call has a connect and a read timeout, and connection failures and 429/502/503/504 answers are
retried with exponential backoff (honouring `Retry-After`), bounded both in attempts and in total
seconds per check (`HttpPolicy`). The budget is a hard bound: each request runs through
infra/probes/bounded.py, which ends it at the check's deadline however slowly the peer sends
(headers trickled byte by byte, a dripping body, endless `100 Continue`), and keeps at most
`MAX_BODY_BYTES` of body, counted after decompression. What counts as a pass is decided by the
pure functions in infra/rules/checks.py; this module only fetches.
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
from infra.probes import bounded
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
from infra.rules.redaction import hide_url_credentials, url_has_credentials

USER_AGENT = "emergence-cloudrun-verify/1"
# The most body a check reads (after decompression). Parsing Prometheus text costs about 30 to
# 50 times its size in memory, so this bounds a check to about 100 MB (bench/hostile_inputs.py).
MAX_BODY_BYTES = 2 * bounded.MIB
# Upper bounds for the policy's numbers: beyond them a value is a typo, and the system's
# timers overflow (1e10 s).
MAX_TIMEOUT_SECONDS = 600.0
MAX_BUDGET_SECONDS = 3600.0
MAX_ATTEMPTS = 20
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retries for one check (all in seconds).

    A check makes at most `attempts` requests and gives up once `budget` seconds have passed
    since its first request, whatever the peer does: the backoff before try n is
    `backoff * 2**(n-2)`, capped at `backoff_max` (or the server's `Retry-After`, capped the
    same way). A refused connection (nothing listens on the port) is retried only with
    `retry_refused`: the gate right after a deploy may meet a front end still settling, a
    person running `verify` by hand learns more from an immediate answer.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    attempts: int = 4
    backoff: float = 0.5
    backoff_max: float = 8.0
    budget: float = 60.0
    retry_refused: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"attempts must be within 1..{MAX_ATTEMPTS}, got {self.attempts}")
        limits = {
            "connect_timeout": MAX_TIMEOUT_SECONDS,
            "read_timeout": MAX_TIMEOUT_SECONDS,
            "budget": MAX_BUDGET_SECONDS,
        }
        for name, limit in limits.items():
            value = getattr(self, name)
            if not 0 < value <= limit:  # NaN fails too
                raise ValueError(f"{name} must be within (0, {limit:g}] seconds, got {value}")
        if not (
            0 <= self.backoff <= MAX_TIMEOUT_SECONDS
            and 0 <= self.backoff_max <= MAX_TIMEOUT_SECONDS
        ):
            raise ValueError("backoff and backoff_max must be within 0..600 seconds")


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
    checks are anonymous, and what is printed must not show a credential. Anything before an
    `@` counts, wherever a `/`, `?` or `#` falls (`http://alice:S3nt/inelPw@host` is user
    alice with password S3nt/inelPw to a person, host alice to a URL parser).
    """
    url = url.strip()
    shown = f"'{one_line(hide_url_credentials(url), 200)}'"
    if url_has_credentials(url) or "@" in url:
        raise ValueError(
            f"{shown} carries credentials (user:password@): give the service's base URL "
            "without them; the checks are anonymous"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown} is not an http(s) URL such as https://emergence-app-xyz.run.app")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in 0..65535
    except ValueError:
        raise ValueError(f"{shown}: the port is not a number within 1..65535") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{shown}: give the service's base URL, without '?' or '#'")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"{shown}: a URL holds no spaces or control characters")
    return url.rstrip("/")


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


def _refused(exc: BaseException) -> bool:
    """Whether a connection error is a refusal (nothing listening), through urllib3's wrappers."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        node = stack.pop()
        if not isinstance(node, BaseException) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ConnectionRefusedError):
            return True
        stack += [node.__cause__, node.__context__, getattr(node, "reason", None), *node.args]
    return False


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

    Finished within `policy.budget` seconds whatever the peer does. Retried: connection
    failures (reset, connect timeout; refused only with `policy.retry_refused`) and
    429/502/503/504. Not retried: read timeouts (a slow service is the finding), a spent
    budget, a body over the size limit, and every other status.
    """
    deadline = clock() + policy.budget
    attempt = 0
    while True:
        attempt += 1
        started = clock()
        retry_after = None
        retryable = False

        def failed(error: str, status: int | None = None) -> Answer:
            return Answer(status, "", b"", (clock() - started) * 1000, attempt, error)  # noqa: B023

        try:
            raw = bounded.get(
                session,
                url,
                deadline=deadline,
                connect_timeout=policy.connect_timeout,
                read_timeout=policy.read_timeout,
                max_bytes=MAX_BODY_BYTES,
                headers=headers,
                clock=clock,
            )
        except bounded.DeadlinePassed as exc:
            what = "no complete answer" if exc.status is None else "the body did not arrive"
            return failed(f"{what} within {policy.budget:g}s (the check's budget)", exc.status)
        except bounded.BodyBrokeOff as exc:
            return failed(
                "the answer's body broke off: " + _describe(exc.cause, policy), exc.status
            )
        except bounded.BoundedReadError as exc:  # too large, an encoding that does not decode
            return failed(str(exc), getattr(exc, "status", None))
        except requests.exceptions.ConnectionError as exc:  # refused, reset, connect timeout
            answer = failed(_describe(exc, policy))
            retryable = policy.retry_refused or not _refused(exc)
        except requests.RequestException as exc:  # read timeout, bad URL, ...
            answer = failed(_describe(exc, policy))
        else:
            answer = Answer(
                raw.status,
                raw.headers.get("Content-Type", ""),
                raw.body,
                (clock() - started) * 1000,
                attempt,
            )
            retryable = raw.status in RETRY_STATUSES
            retry_after = retry_after_seconds(raw.headers.get("Retry-After"))
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
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check, in order, over one session; one result per check (ValueError only for
    a base URL that is not http(s)). `on_result` sees each result as soon as it is known."""
    base_url = validate_base_url(base_url)
    results: list[CheckResult] = []
    with new_session() as session:
        for spec in specs:
            result = run_check(
                base_url,
                spec,
                policy=policy,
                session=session,
                headers=headers,
                sleep=sleep,
                clock=clock,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


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

    def rows(self) -> list[tuple[str, str]]:
        """(name, target) of the three checks, in the order they run."""
        return [
            ("traffic", f"traffic of {self.service}"),
            ("services", f"services in {self.region}"),
            ("revisions", "revisions kept"),
        ]


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
    client: ApiClient,
    target: AdminTarget,
    *,
    clock: Clock = time.monotonic,
    on_result: Callable[[CheckResult], None] | None = None,
) -> AdminReport:
    """Traffic, leftover services and revision count, read through the shared Admin API client.

    Three reads (the service, the region's services, the service's revisions); each check fails
    on its own, with the API's reason, when its read fails. CredentialsError propagates.
    `on_result` sees each result as soon as it is known.
    """
    service_path = f"{target.parent}/services/{target.service}"
    results: list[CheckResult] = []

    def record(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    service, ms, failed, service_error = _call(
        "traffic", f"traffic of {target.service}", lambda: client.get(service_path), clock
    )
    record(failed or _timed(judge_traffic(service or {}, target.expected_revision), ms))

    services, ms, failed, _ = _call(
        "services",
        f"services in {target.region}",
        lambda: list(client.paginate(f"{target.parent}/services", "services")),
        clock,
    )
    leftovers = judge_leftover_services(
        services or [], target.service, target.allowed_services, target.region
    )
    record(failed or _timed(leftovers, ms))

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
    record(failed or _timed(count, ms))
    return AdminReport(results, service, revisions, service_error)
