"""The shared Google API client (infra/google/client.py) against the fake Cloud Run API and scripted
servers: retries, Retry-After, time budgets, paging, operations, error mapping, credentials."""

from __future__ import annotations

import pickle
import socket

import dill
import google.auth
import google.auth.credentials
import google.auth.exceptions
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession
from pytest_httpserver import HTTPServer

from infra.google import client as gcp_api
from infra.google.client import (
    ApiError,
    CredentialsError,
    GcpApiError,
    GoogleApiClient,
    OperationError,
    OperationTimeout,
    RetryPolicy,
)
from tests.fakes.cloud_run import FakeCloudRun, pinned

SERVICE = "emergence-app"


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client_for(url: str, fake_time: FakeTime, **kwargs) -> GoogleApiClient:
    kwargs.setdefault("rand", lambda: 0.0)  # no jitter unless a test asks for it
    return GoogleApiClient(url, sleep=fake_time.sleep, clock=fake_time.clock, **kwargs)


def revisions_path(fake: FakeCloudRun) -> str:
    return f"v2/{fake.service_name(SERVICE)}/revisions"


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(fake_cloud_run, fake_time, status):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(2, status)
    client = client_for(fake_cloud_run.url, fake_time)
    service = client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert service["name"] == fake_cloud_run.service_name(SERVICE)
    assert fake_cloud_run.count("GET") == 3
    assert client.request_count == 3
    # exponential: 0.5 then 1.0 (rand=0 means no jitter reduction)
    assert fake_time.sleeps == [0.5, 1.0]


def test_retries_are_bounded_in_attempts(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(100, 503)
    client = client_for(fake_cloud_run.url, fake_time, retry=RetryPolicy(max_attempts=4))
    with pytest.raises(ApiError) as info:
        client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert info.value.status_code == 503
    assert info.value.status == "UNAVAILABLE"
    assert fake_cloud_run.count() == 4
    assert len(fake_time.sleeps) == 3


def test_retries_are_bounded_in_total_time(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(100, 500)
    policy = RetryPolicy(max_attempts=50, initial_backoff=1, max_backoff=4, total_timeout=10)
    client = client_for(fake_cloud_run.url, fake_time, retry=policy)
    with pytest.raises(ApiError) as info:
        client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert info.value.status == "INTERNAL"
    # 1 + 2 + 4 = 7 s slept; the next 4 s would pass the 10 s budget, so it stops there.
    assert fake_time.sleeps == [1, 2, 4]
    assert sum(fake_time.sleeps) <= 10
    assert fake_cloud_run.count() == 4


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(initial_backoff=1, multiplier=2, max_backoff=8, jitter=0.5)
    assert [policy.backoff(n, 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert policy.backoff(3, 1.0) == 2.0  # 4 * (1 - 0.5)
    assert 2.0 <= policy.backoff(3, 0.37) <= 4.0


def test_jitter_comes_from_the_injected_random_source(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(1, 503)
    client = client_for(fake_cloud_run.url, fake_time, rand=lambda: 1.0)
    client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert fake_time.sleeps == [0.25]  # 0.5 * (1 - 0.5)


def test_retry_after_seconds_is_honoured(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(1, 429, retry_after="7")
    client = client_for(fake_cloud_run.url, fake_time)
    client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert fake_time.sleeps == [7.0]
    assert fake_cloud_run.count() == 2


def test_retry_after_beyond_the_budget_gives_up_without_sleeping(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(1, 429, retry_after="3600")
    client = client_for(fake_cloud_run.url, fake_time, retry=RetryPolicy(total_timeout=60))
    with pytest.raises(ApiError) as info:
        client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert info.value.status_code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    assert "Quota exceeded" in info.value.message
    assert fake_time.sleeps == []


def test_retry_after_http_date():
    assert gcp_api.retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10
    assert gcp_api.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0
    assert gcp_api.retry_after_seconds("soon") is None
    assert gcp_api.retry_after_seconds(None) is None


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_client_errors_are_not_retried(fake_cloud_run, fake_time, status):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.fail_next(1, status)
    client = client_for(fake_cloud_run.url, fake_time)
    with pytest.raises(ApiError) as info:
        client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert info.value.status_code == status
    assert fake_cloud_run.count() == 1
    assert fake_time.sleeps == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_errors_are_retried_and_bounded(fake_time):
    client = client_for(
        f"http://127.0.0.1:{_closed_port()}", fake_time, retry=RetryPolicy(max_attempts=3)
    )
    with pytest.raises(ApiError) as info:
        client.get("v2/projects/p/locations/l/services")
    assert info.value.status == "UNAVAILABLE"
    assert "ConnectionError" in info.value.message
    assert client.request_count == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_every_request_has_a_timeout(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.slow(0.5)
    client = client_for(
        fake_cloud_run.url, fake_time, timeout=(2.0, 0.1), retry=RetryPolicy(max_attempts=2)
    )
    with pytest.raises(ApiError) as info:
        client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    assert "Timeout" in info.value.message
    assert client.request_count == 2


def test_default_timeout_is_passed_to_the_session(monkeypatch):
    seen = {}

    class Recorder(requests.Session):
        def request(self, method, url, **kwargs):
            seen.update(kwargs)
            raise requests.ConnectionError("stop here")

    client = GoogleApiClient("http://127.0.0.1:9", session=Recorder(), retry=gcp_api.NO_RETRY)
    with pytest.raises(ApiError):
        client.get("v2/x")
    assert seen["timeout"] == gcp_api.DEFAULT_TIMEOUT


# -- errors -------------------------------------------------------------------------------------


def test_google_error_body_becomes_a_typed_error(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    client = client_for(fake_cloud_run.url, fake_time)
    with pytest.raises(ApiError) as info:
        client.get(f"{revisions_path(fake_cloud_run)}/emergence-app-99999-zzz")
    err = info.value
    assert (err.status_code, err.status) == (404, "NOT_FOUND")
    assert "emergence-app-99999-zzz" in err.message
    assert err.method == "GET"
    assert str(err).startswith("Cloud Run Admin API GET v2/projects/") or "404 NOT_FOUND" in str(
        err
    )
    assert "404 NOT_FOUND" in str(err)


def test_permission_denied_names_the_permission(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    old = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deny_deletes()
    client = client_for(fake_cloud_run.url, fake_time)
    with pytest.raises(ApiError) as info:
        client.delete(f"{revisions_path(fake_cloud_run)}/{old}")
    assert info.value.status == "PERMISSION_DENIED"
    assert info.value.permission == "run.revisions.delete"
    assert info.value.reason == "IAM_PERMISSION_DENIED"
    assert old in fake_cloud_run.revision_ids(SERVICE)


def test_deleting_a_serving_revision_is_failed_precondition(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    serving = fake_cloud_run.deploy(SERVICE)
    client = client_for(fake_cloud_run.url, fake_time)
    with pytest.raises(ApiError) as info:
        client.delete(f"{revisions_path(fake_cloud_run)}/{serving}")
    assert (info.value.status_code, info.value.status) == (400, "FAILED_PRECONDITION")
    assert fake_cloud_run.count() == 1  # 400 is not retried


def test_non_json_error_body_is_summarised(httpserver: HTTPServer, fake_time):
    httpserver.expect_request("/v2/x").respond_with_data(
        "<html><body>\n  Bad   gateway\n</body></html>", status=502, content_type="text/html"
    )
    client = client_for(httpserver.url_for("/"), fake_time, retry=gcp_api.NO_RETRY)
    with pytest.raises(ApiError) as info:
        client.get("v2/x")
    assert info.value.status_code == 502
    assert info.value.message == "<html><body> Bad gateway </body></html>"


def test_status_name_is_inferred_when_the_body_has_none(httpserver: HTTPServer, fake_time):
    httpserver.expect_request("/v2/x").respond_with_json({"error": {"code": 403}}, status=403)
    client = client_for(httpserver.url_for("/"), fake_time)
    with pytest.raises(ApiError) as info:
        client.get("v2/x")
    assert info.value.status == "PERMISSION_DENIED"
    assert info.value.permission is None


# -- paging -------------------------------------------------------------------------------------


def test_paginate_follows_next_page_token(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    ids = fake_cloud_run.deploy_many(SERVICE, ["ready"] * 7)
    client = client_for(fake_cloud_run.url, fake_time)
    items = list(client.paginate(revisions_path(fake_cloud_run), "revisions", page_size=3))
    assert [r["name"].rsplit("/", 1)[-1] for r in items] == list(reversed(ids))
    gets = [c for c in fake_cloud_run.calls if c.method == "GET"]
    assert len(gets) == 3
    assert [c.query.get("pageSize") for c in gets] == ["3", "3", "3"]
    assert "pageToken" not in gets[0].query
    assert gets[1].query["pageToken"] and gets[2].query["pageToken"] != gets[1].query["pageToken"]


def test_paginate_keeps_other_query_parameters(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.deploy_many(SERVICE, ["ready"] * 3)
    client = client_for(fake_cloud_run.url, fake_time)
    pages = list(
        client.pages(revisions_path(fake_cloud_run), params={"showDeleted": "false"}, page_size=2)
    )
    assert len(pages) == 2
    assert all(c.query["showDeleted"] == "false" for c in fake_cloud_run.calls)


def test_paging_retries_a_failed_page_without_restarting(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    fake_cloud_run.deploy_many(SERVICE, ["ready"] * 5)
    client = client_for(fake_cloud_run.url, fake_time)
    pages = client.pages(revisions_path(fake_cloud_run), page_size=2)
    first = next(pages)
    fake_cloud_run.fail_next(1, 503)
    rest = list(pages)
    assert len(first["revisions"]) + sum(len(p["revisions"]) for p in rest) == 5
    assert fake_cloud_run.count() == 4  # 3 pages + 1 retry


def test_a_repeated_page_token_stops_the_loop(httpserver: HTTPServer, fake_time):
    httpserver.expect_request("/v2/things").respond_with_json(
        {"things": [{"name": "a"}], "nextPageToken": "same"}
    )
    client = client_for(httpserver.url_for("/"), fake_time)
    with pytest.raises(GcpApiError, match="repeated page token"):
        list(client.paginate("v2/things", "things"))


def test_paginate_post_pages_in_the_body(httpserver: HTTPServer, fake_time):
    bodies = []

    def handler(request):
        from werkzeug import Response

        body = request.get_json()
        bodies.append(body)
        token = body.get("pageToken")
        page = {
            None: {"entries": [{"insertId": "1"}, {"insertId": "2"}], "nextPageToken": "t2"},
            "t2": {"entries": [{"insertId": "3"}], "nextPageToken": "t3"},
            "t3": {},
        }[token]
        import json

        return Response(json.dumps(page), content_type="application/json")

    httpserver.expect_request("/v2/entries:list", method="POST").respond_with_handler(handler)
    client = client_for(httpserver.url_for("/"), fake_time)
    body = {"resourceNames": ["projects/p"], "filter": 'severity>="INFO"'}
    entries = list(client.paginate_post("v2/entries:list", "entries", body, page_size=2))
    assert [e["insertId"] for e in entries] == ["1", "2", "3"]
    assert [b.get("pageToken") for b in bodies] == [None, "t2", "t3"]
    assert all(b["pageSize"] == 2 and b["filter"] == body["filter"] for b in bodies)
    assert "pageToken" not in body  # the caller's body is not modified


# -- operations ---------------------------------------------------------------------------------


def test_wait_operation_polls_until_done(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    old = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.operation_polls = 3
    client = client_for(fake_cloud_run.url, fake_time)
    op = client.delete(f"{revisions_path(fake_cloud_run)}/{old}")
    assert op["done"] is False
    response = client.wait_operation(op, poll_interval=1, max_poll_interval=10)
    assert response["name"].endswith(f"/revisions/{old}")
    assert "deleteTime" in response
    assert fake_cloud_run.count("GET", "/operations/") == 3
    assert fake_time.sleeps == [1, 1.5, 2.25]
    assert old not in fake_cloud_run.revision_ids(SERVICE)


def test_wait_operation_returns_at_once_when_done(fake_time):
    client = GoogleApiClient("http://127.0.0.1:9", sleep=fake_time.sleep, clock=fake_time.clock)
    assert client.wait_operation({"name": "op", "done": True, "response": {"a": 1}}) == {"a": 1}
    assert client.wait_operation({"name": "op", "done": True}) == {}
    assert client.request_count == 0


def test_wait_operation_is_bounded_in_time(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    old = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.operation_polls = 1000
    client = client_for(fake_cloud_run.url, fake_time)
    op = client.delete(f"{revisions_path(fake_cloud_run)}/{old}")
    with pytest.raises(OperationTimeout) as info:
        client.wait_operation(op, timeout=30, poll_interval=2, max_poll_interval=5)
    assert sum(fake_time.sleeps) <= 30
    assert info.value.name == op["name"]


def test_wait_operation_raises_the_operation_error(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    old = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.fail_operation(old)
    client = client_for(fake_cloud_run.url, fake_time)
    op = client.delete(f"{revisions_path(fake_cloud_run)}/{old}")
    with pytest.raises(OperationError) as info:
        client.wait_operation(op)
    assert info.value.status == "INTERNAL"
    assert info.value.status_code == 500
    assert "could not be deleted" in info.value.message
    assert old in fake_cloud_run.revision_ids(SERVICE)


def test_operation_polls_are_retried_too(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    old = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    client = client_for(fake_cloud_run.url, fake_time)
    op = client.delete(f"{revisions_path(fake_cloud_run)}/{old}")
    fake_cloud_run.fail_next(1, 503, path_contains="/operations/")
    assert client.wait_operation(op)["name"].endswith(old)
    assert fake_cloud_run.count("GET", "/operations/") == 2


# -- endpoints and credentials ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.0.0.2", True),
        ("http://[::1]:9000/", True),
        ("http://localhost:1234", True),
        ("https://run.googleapis.com", False),
        ("http://127.0.0.1.example.com", False),
        ("http://10.0.0.1", False),
    ],
)
def test_is_loopback_url(url, loopback):
    assert gcp_api.is_loopback_url(url) is loopback


def test_endpoints_default_and_override(monkeypatch):
    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.delenv("LOGGING_API_ENDPOINT", raising=False)
    assert gcp_api.cloud_run_client().base_url == "https://run.googleapis.com"
    assert gcp_api.logging_client().base_url == "https://logging.googleapis.com"
    monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", "http://127.0.0.1:4000/")
    monkeypatch.setenv("LOGGING_API_ENDPOINT", "http://localhost:4001")
    run, logs = gcp_api.cloud_run_client(), gcp_api.logging_client()
    assert (run.base_url, run.loopback) == ("http://127.0.0.1:4000", True)
    assert (logs.base_url, logs.loopback) == ("http://localhost:4001", True)
    assert run.api_name == "Cloud Run Admin API"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("not a url", "is not a URL"), ("http://evil.example.com", "plain http")],
)
def test_bad_endpoint_override_is_a_clear_error(monkeypatch, value, fragment):
    monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", value)
    with pytest.raises(GcpApiError, match=fragment) as info:
        gcp_api.cloud_run_client()
    assert "CLOUD_RUN_API_ENDPOINT" in str(info.value)


def test_loopback_uses_no_credentials(fake_cloud_run, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("google.auth.default() must not be called for a loopback endpoint")

    monkeypatch.setattr(google.auth, "default", refuse)
    fake_cloud_run.add_service(SERVICE)
    client = gcp_api.cloud_run_client()
    assert client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")["uri"].startswith("https://")
    assert type(client.session) is requests.Session
    assert "authorization" not in fake_cloud_run.calls[0].headers
    assert fake_cloud_run.calls[0].headers["user-agent"] == gcp_api.USER_AGENT


def test_missing_credentials_say_how_to_fix(monkeypatch):
    def missing(*args, **kwargs):
        raise google.auth.exceptions.DefaultCredentialsError(
            "Your default credentials were not found"
        )

    monkeypatch.setattr(google.auth, "default", missing)
    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    client = gcp_api.cloud_run_client()
    with pytest.raises(CredentialsError) as info:
        client.get("v2/projects/p/locations/l/services")
    message = str(info.value)
    assert "gcloud auth application-default login" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert client.request_count == 0


class _StaticCredentials(google.auth.credentials.Credentials):
    def __init__(self) -> None:
        super().__init__()
        self.token = "ya29.SECRET-TOKEN-VALUE"

    def refresh(self, request) -> None:
        self.token = "ya29.SECRET-TOKEN-VALUE"


def test_real_endpoints_use_application_default_credentials(monkeypatch):
    scopes_asked = []

    def default(scopes=None, **kwargs):
        scopes_asked.append(scopes)
        return _StaticCredentials(), "emergence-469005"

    monkeypatch.setattr(google.auth, "default", default)
    client = GoogleApiClient("https://run.googleapis.com")
    assert isinstance(client.session, AuthorizedSession)
    assert scopes_asked == [["https://www.googleapis.com/auth/cloud-platform"]]
    assert "SECRET" not in repr(client)


def test_a_refresh_failure_is_a_credentials_error_without_the_token(monkeypatch):
    class Broken(_StaticCredentials):
        def refresh(self, request) -> None:
            raise google.auth.exceptions.RefreshError("invalid_grant: token ya29.SECRET expired")

        @property
        def expired(self) -> bool:
            return True

    monkeypatch.setattr(google.auth, "default", lambda **kw: (Broken(), "p"))
    client = GoogleApiClient("https://run.googleapis.com", retry=gcp_api.NO_RETRY)
    with pytest.raises(CredentialsError) as info:
        client.get("v2/projects/p/locations/l/services")
    assert "gcloud auth application-default login" in str(info.value)
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None


def test_a_client_refuses_to_be_pickled(fake_cloud_run):
    client = gcp_api.cloud_run_client()
    with pytest.raises(TypeError, match="must not be pickled"):
        pickle.dumps(client)
    with pytest.raises(TypeError, match="must not be pickled"):
        dill.dumps(client)


def test_the_request_counter_counts_every_attempt(fake_cloud_run, fake_time):
    fake_cloud_run.add_service(SERVICE)
    rev = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.set_traffic(SERVICE, [pinned(fake_cloud_run.revision_ids(SERVICE)[0])])
    client = client_for(fake_cloud_run.url, fake_time)
    fake_cloud_run.fail_next(1, 503)
    client.get(f"v2/{fake_cloud_run.service_name(SERVICE)}")
    client.wait_operation(client.delete(f"{revisions_path(fake_cloud_run)}/{rev}"))
    assert client.request_count == fake_cloud_run.count() == 4
    assert client.requests_by_method == {"GET": 3, "DELETE": 1}
