"""The one module that talks HTTP to Google APIs (Cloud Run Admin API v2, Cloud Logging).

Everything that calls Google goes through `GoogleApiClient`:

- **Endpoints.** `cloud_run_client()` talks to `https://run.googleapis.com`, `logging_client()` to
  `https://logging.googleapis.com`. The environment variables `CLOUD_RUN_API_ENDPOINT` and
  `LOGGING_API_ENDPOINT` override them, so a fake server or an emulator can stand in for Google.
- **Credentials.** Application Default Credentials (`google.auth.default()`, scope
  cloud-platform) through `AuthorizedSession`, created on the first request. A loopback base URL
  (127.0.0.1, ::1, localhost) gets a plain `requests.Session` and no credentials at all; a
  non-loopback `http://` endpoint is refused, so a token never travels in clear. Missing
  credentials raise `CredentialsError`, which says how to provide them. Tokens are never logged,
  printed or put in an error message.
- **Timeouts** on every request (connect, read).
- **Retries**: connection errors and HTTP 429/500/502/503/504 are retried with exponential backoff
  and jitter, honouring `Retry-After`, bounded both in attempts and in total time (`RetryPolicy`).
  The sleep function and the clock are injectable, so tests never wait.
- **Errors**: a Google error body `{"error": {"code", "message", "status", "details"}}` becomes an
  `ApiError` carrying the HTTP status, the Google status (`PERMISSION_DENIED`, `NOT_FOUND`,
  `FAILED_PRECONDITION`, ...), the message and, for 403s, the missing permission when Google names
  it (`ErrorInfo.metadata.permission`).
- **Paging**: `paginate()` follows `nextPageToken` with `pageSize`/`pageToken` query parameters
  (GET list calls); `paginate_post()` does the same in a POST body (Logging `entries:list`).
- **Long-running operations**: `wait_operation()` polls `GET v2/{operation name}` until `done`,
  within a bounded time, and returns the operation's `response` or raises `OperationError`.
- **Counting**: `request_count` (every HTTP request sent, retries included) and
  `requests_by_method`, which the bench prints.

A client holds a live session and possibly credentials: it refuses to be pickled. Pulumi dynamic
providers are pickled (dill) into the state, so create a client inside each provider method.
"""

from __future__ import annotations

import collections
import email.utils
import ipaddress
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

CLOUD_RUN_ENDPOINT_ENV = "CLOUD_RUN_API_ENDPOINT"
LOGGING_ENDPOINT_ENV = "LOGGING_API_ENDPOINT"
CLOUD_RUN_DEFAULT_ENDPOINT = "https://run.googleapis.com"
LOGGING_DEFAULT_ENDPOINT = "https://logging.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
USER_AGENT = "emergence-cloudrun/0.1"

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds

# google.rpc.Code -> (canonical name, HTTP status), for operation errors, which carry only a code.
_RPC_CODES: dict[int, tuple[str, int]] = {
    0: ("OK", 200),
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}
# HTTP status -> canonical name, when an error body does not say.
_HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GcpApiError(Exception):
    """Base class of every error this module raises."""


class CredentialsError(GcpApiError):
    """Google credentials are missing or unusable. The message says how to provide them."""


class ApiError(GcpApiError):
    """Google answered with an error (or kept failing until the retry budget ran out)."""

    def __init__(
        self,
        status_code: int,
        status: str,
        message: str,
        *,
        method: str = "",
        path: str = "",
        details: list[Any] | None = None,
        api: str = "Google API",
    ) -> None:
        self.status_code = status_code
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.details = list(details or [])
        self.api = api
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{api} {where}{status_code} {status}: {message}")

    @property
    def permission(self) -> str | None:
        """The IAM permission Google says is missing (ErrorInfo metadata), if it says so."""
        for detail in self.details:
            if not isinstance(detail, Mapping):
                continue
            metadata = detail.get("metadata")
            if isinstance(metadata, Mapping) and metadata.get("permission"):
                return str(metadata["permission"])
        return None

    @property
    def reason(self) -> str | None:
        """The ErrorInfo reason (e.g. IAM_PERMISSION_DENIED), if any."""
        for detail in self.details:
            if isinstance(detail, Mapping) and detail.get("reason"):
                return str(detail["reason"])
        return None


class OperationError(ApiError):
    """A long-running operation finished with an `error`."""


class OperationTimeout(GcpApiError):
    """A long-running operation was not done within the allowed time."""

    def __init__(self, name: str, waited: float) -> None:
        self.name = name
        self.waited = waited
        super().__init__(f"operation {name} was not done after {waited:.0f}s")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `max_attempts` requests and `total_timeout` seconds in all.

    Delay before retry n (1-based): min(max_backoff, initial_backoff * multiplier**(n-1)),
    scaled by a random factor in [1 - jitter, 1]; a `Retry-After` header replaces it (when it asks
    for longer than the remaining budget, the client stops and raises).
    """

    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 16.0
    multiplier: float = 2.0
    jitter: float = 0.5
    total_timeout: float = 120.0
    retry_status: frozenset[int] = RETRYABLE_STATUS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def backoff(self, retry_number: int, rand: float) -> float:
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry_number - 1))
        return base * (1 - self.jitter * rand)


NO_RETRY = RetryPolicy(max_attempts=1)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address (127.0.0.0/8, ::1) or `localhost`."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_from_env(env_var: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """The base URL: `env_var` when set (validated), else `default`."""
    environ = os.environ if environ is None else environ
    value = (environ.get(env_var) or "").strip()
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GcpApiError(
            f"{env_var}={value!r} is not a URL: set it to a base URL such as "
            f"{default} or http://127.0.0.1:PORT, or unset it"
        )
    if parts.scheme == "http" and not is_loopback_url(value):
        raise GcpApiError(
            f"{env_var}={value!r} uses plain http on a non-loopback host, which would send "
            "Google credentials in clear: use https, or a loopback address for a fake server"
        )
    return value.rstrip("/")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/invalid.

    Shared with the post-deploy checks (infra/probes/verify.py), which retry the service's 429/503s.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _error_from_response(response: requests.Response, method: str, path: str, api: str) -> ApiError:
    status_code = response.status_code
    status = _HTTP_STATUS_NAMES.get(status_code, "UNKNOWN")
    message = ""
    details: list[Any] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        status = str(error.get("status") or status)
        message = str(error.get("message") or "")
        raw_details = error.get("details")
        details = list(raw_details) if isinstance(raw_details, list) else []
    elif isinstance(error, str):  # OAuth-style {"error": "invalid_grant", ...}
        message = error
    if not message:
        text = (response.text or "").strip()
        message = " ".join(text.split())[:200] or (response.reason or "no message")
    return ApiError(
        status_code, status, message, method=method, path=path, details=details, api=api
    )


class GoogleApiClient:
    """A small JSON client for one Google API base URL. See the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        api_name: str = "Google API",
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] | None = None,
        session: requests.Session | None = None,
        endpoint_env: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_name = api_name
        self.endpoint_env = endpoint_env  # the variable that set base_url, if one did
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.loopback = is_loopback_url(self.base_url)
        # Looked up now, not at import: tests may patch time.sleep for code that builds clients.
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._rand = rand or random.random
        self._session = session
        self._lock = threading.Lock()
        self.request_count = 0
        self.requests_by_method: collections.Counter[str] = collections.Counter()

    # -- plumbing -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        mode = "no credentials (loopback)" if self.loopback else "application default credentials"
        return f"GoogleApiClient({self.base_url!r}, {mode})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "GoogleApiClient holds a live session and credentials and must not be pickled: "
            "create it inside the method that uses it (dynamic providers are pickled into state)"
        )

    def __enter__(self) -> GoogleApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> requests.Session:
        if self.loopback:
            session = requests.Session()
        else:
            import google.auth  # noqa: PLC0415 (only real Google endpoints need it)
            import google.auth.exceptions  # noqa: PLC0415
            from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

            try:
                credentials, _project = google.auth.default(scopes=list(SCOPES))
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise CredentialsError(
                    f"no Google credentials found to call {self.base_url}: run "
                    "`gcloud auth application-default login`, or set "
                    "GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or run where "
                    f"a metadata server provides them). Detail: {type(exc).__name__}"
                ) from None
            session = AuthorizedSession(credentials)
        session.headers["User-Agent"] = USER_AGENT
        return session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ValueError("pass a path relative to the client's base URL, not a full URL")
        return f"{self.base_url}/{path.lstrip('/')}"

    def _count(self, method: str) -> None:
        with self._lock:
            self.request_count += 1
            self.requests_by_method[method] += 1

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        import google.auth.exceptions  # noqa: PLC0415 (google-auth is a dependency anyway)

        session = self.session  # credentials are looked up before anything is counted
        self._count(method)
        try:
            return session.request(method, url, **kwargs)
        except google.auth.exceptions.RefreshError as exc:
            raise CredentialsError(
                f"Google credentials could not be refreshed to call {self.base_url}: run "
                "`gcloud auth application-default login` again, or check "
                f"GOOGLE_APPLICATION_CREDENTIALS. Detail: {type(exc).__name__}"
            ) from None

    # -- requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] | float | None = None,
    ) -> dict[str, Any]:
        """Send one API call (with retries) and return the decoded JSON body ({} when empty)."""
        method = method.upper()
        policy = retry or self.retry
        url = self.url(path)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self._send(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    timeout=timeout or self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure: GcpApiError = ApiError(
                    503,
                    "UNAVAILABLE",
                    self._unreachable(exc),
                    method=method,
                    path=path,
                    api=self.api_name,
                )
                retryable = True
            else:
                if response.status_code < 400:
                    return self._decode(response, method, path)
                failure = _error_from_response(response, method, path, self.api_name)
                retryable = response.status_code in policy.retry_status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if not retryable or attempt >= policy.max_attempts:
                raise failure
            delay = policy.backoff(attempt, self._rand())
            if retry_after is not None:
                delay = retry_after
            if self._clock() - started + delay > policy.total_timeout:
                raise failure
            self._sleep(delay)

    def _unreachable(self, exc: Exception) -> str:
        """Why no answer came, naming the endpoint (and the variable that chose it)."""
        text = f"request failed: cannot reach {self.base_url} ({type(exc).__name__})"
        if self.endpoint_env:
            text += (
                f"; {self.endpoint_env} points there: start the server it names, or unset "
                f"{self.endpoint_env} to call Google"
            )
        return text

    def _decode(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise ApiError(
                response.status_code,
                "UNKNOWN",
                "the response is not JSON",
                method=method,
                path=path,
                api=self.api_name,
            ) from None
        return body if isinstance(body, dict) else {"value": body}

    def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.request("POST", path, json_body=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.request("PATCH", path, json_body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.request("DELETE", path, **kwargs)

    # -- paging -------------------------------------------------------------------------------

    def pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        max_pages: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        """Each page of a GET list call, following `nextPageToken` (query `pageToken`)."""
        query = dict(params or {})
        if page_size is not None:
            query["pageSize"] = page_size
        yield from self._follow(
            lambda token: self.get(path, params=_with_token(query, token)), path, max_pages
        )

    def paginate(self, path: str, items_key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a GET list call across pages (e.g. items_key="revisions")."""
        for page in self.pages(path, **kwargs):
            yield from page.get(items_key) or []

    def pages_post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        page_size: int | None = None,
        max_pages: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        """Each page of a POST list call whose paging lives in the body (`pageToken`)."""
        base = dict(body)
        if page_size is not None:
            base["pageSize"] = page_size
        yield from self._follow(
            lambda token: self.post(path, _with_token(base, token)), path, max_pages
        )

    def paginate_post(
        self, path: str, items_key: str, body: Mapping[str, Any], **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a POST list call (e.g. Logging `v2/entries:list`, items_key="entries")."""
        for page in self.pages_post(path, body, **kwargs):
            yield from page.get(items_key) or []

    def _follow(
        self, fetch: Callable[[str | None], dict[str, Any]], path: str, max_pages: int
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            page = fetch(token)
            yield page
            token = page.get("nextPageToken") or None
            if token is None:
                return
            if token in seen:
                raise GcpApiError(
                    f"{self.api_name} {path}: the server repeated page token {token!r}"
                )
            seen.add(token)
        raise GcpApiError(f"{self.api_name} {path}: more than {max_pages} pages; stopped")

    # -- long-running operations --------------------------------------------------------------

    def wait_operation(
        self,
        operation: Mapping[str, Any],
        *,
        timeout: float = 300.0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        version: str = "v2",
    ) -> dict[str, Any]:
        """Poll `GET {version}/{operation name}` until done; return its `response` ({} if none).

        Raises OperationError when the operation ends with an `error`, OperationTimeout when it is
        not done within `timeout` seconds.
        """
        name = str(operation.get("name") or "")
        started = self._clock()
        interval = poll_interval
        current: Mapping[str, Any] = operation
        while not current.get("done"):
            if not name:
                raise GcpApiError(f"{self.api_name}: an operation that is not done has no name")
            waited = self._clock() - started
            if waited + interval > timeout:
                raise OperationTimeout(name, waited)
            self._sleep(interval)
            interval = min(max_poll_interval, interval * 1.5)
            current = self.get(f"{version}/{name}")
        error = current.get("error")
        if isinstance(error, Mapping):
            code = int(error.get("code") or 2)
            status, http_status = _RPC_CODES.get(code, ("UNKNOWN", 500))
            raise OperationError(
                http_status,
                status,
                str(error.get("message") or "the operation failed"),
                method="OPERATION",
                path=name,
                details=list(error.get("details") or []),
                api=self.api_name,
            )
        response = current.get("response")
        return dict(response) if isinstance(response, Mapping) else {}


def _with_token(base: Mapping[str, Any], token: str | None) -> dict[str, Any]:
    out = dict(base)
    if token:
        out["pageToken"] = token
    return out


def cloud_run_client(**kwargs: Any) -> GoogleApiClient:
    """Cloud Run Admin API v2 (`CLOUD_RUN_API_ENDPOINT` overrides https://run.googleapis.com)."""
    return _client(
        "Cloud Run Admin API", CLOUD_RUN_ENDPOINT_ENV, CLOUD_RUN_DEFAULT_ENDPOINT, kwargs
    )


def logging_client(**kwargs: Any) -> GoogleApiClient:
    """Cloud Logging API v2 (`LOGGING_API_ENDPOINT` overrides https://logging.googleapis.com)."""
    return _client("Cloud Logging API", LOGGING_ENDPOINT_ENV, LOGGING_DEFAULT_ENDPOINT, kwargs)


def _client(api: str, env_var: str, default: str, kwargs: dict[str, Any]) -> GoogleApiClient:
    base = endpoint_from_env(env_var, default)
    overridden = env_var if base != default else None
    return GoogleApiClient(base, api_name=api, endpoint_env=overridden, **kwargs)


def describe(exc: BaseException) -> str:
    """One line for a user: the error's message, never a traceback or a header."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


__all__ = [
    "CLOUD_RUN_DEFAULT_ENDPOINT",
    "CLOUD_RUN_ENDPOINT_ENV",
    "LOGGING_DEFAULT_ENDPOINT",
    "LOGGING_ENDPOINT_ENV",
    "NO_RETRY",
    "ApiError",
    "CredentialsError",
    "GcpApiError",
    "GoogleApiClient",
    "OperationError",
    "OperationTimeout",
    "RetryPolicy",
    "cloud_run_client",
    "describe",
    "endpoint_from_env",
    "is_loopback_url",
    "logging_client",
    "retry_after_seconds",
]
