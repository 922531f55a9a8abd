"""The fake Cloud Logging API follows the logging v2 discovery document, and our requests too."""

from __future__ import annotations

import json

import pytest
import requests

from infra.google.cloud_logging import ENTRIES_LIST_PATH, entries_list_body
from infra.rules.phase2 import logging_filter
from tests.conftest import PROJECT_ROOT
from tests.discovery_helpers import load_discovery, method_http, method_path_regex, schema_problems
from tests.fakes.cloud_logging import FakeCloudLogging, compile_filter

DATA = PROJECT_ROOT / "tests" / "data" / "phase2"


@pytest.fixture(scope="module")
def export_entries() -> list[dict]:
    return json.loads((DATA / "after-gcloud.json").read_text(encoding="utf-8"))


def test_the_method_path_and_verb_are_the_discovery_documents():
    doc = load_discovery("logging.v2")
    assert method_http(doc, "entries.list") == "POST"
    assert method_path_regex(doc, "entries.list").match("/" + ENTRIES_LIST_PATH)
    assert doc["rootUrl"] == "https://logging.googleapis.com/"


def test_our_request_body_is_a_list_log_entries_request():
    doc = load_discovery("logging.v2")
    body = {**entries_list_body("emergence-469005", "x"), "pageSize": 1000, "pageToken": "t"}
    assert schema_problems(doc, "ListLogEntriesRequest", body) == []
    assert set(body) <= set(doc["schemas"]["ListLogEntriesRequest"]["properties"])
    assert (
        body["orderBy"]
        in doc["schemas"]["ListLogEntriesRequest"]["properties"]["orderBy"]["description"]
    )


def test_the_generated_entries_are_log_entries(export_entries):
    doc = load_discovery("logging.v2")
    problems = [p for e in export_entries for p in schema_problems(doc, "LogEntry", e)]
    assert problems == []


def test_answers_are_list_log_entries_responses_and_pages_chain(export_entries):
    doc = load_discovery("logging.v2")
    with FakeCloudLogging(export_entries[:250]) as fake:
        token, seen = None, []
        while True:
            body = {"resourceNames": ["projects/emergence-469005"], "pageSize": 100}
            if token:
                body["pageToken"] = token
            answer = requests.post(f"{fake.url}/v2/entries:list", json=body, timeout=10).json()
            assert schema_problems(doc, "ListLogEntriesResponse", answer) == []
            seen += [e["insertId"] for e in answer.get("entries", [])]
            token = answer.get("nextPageToken")
            if not token:
                break
    assert len(seen) == 250 == len(set(seen))


@pytest.mark.parametrize(
    ("body", "status", "google_status"),
    [
        ({"resourceNames": ["projects/emergence-469005"], "pagesize": 5}, 400, "INVALID_ARGUMENT"),
        ({"filter": "x"}, 400, "INVALID_ARGUMENT"),
        ({"resourceNames": ["projects/other"]}, 403, "PERMISSION_DENIED"),
        ({"resourceNames": ["projects/emergence-469005"], "pageSize": -1}, 400, "INVALID_ARGUMENT"),
        (
            {"resourceNames": ["projects/emergence-469005"], "orderBy": "severity"},
            400,
            "INVALID_ARGUMENT",
        ),
        (
            {"resourceNames": ["projects/emergence-469005"], "pageToken": "forged"},
            400,
            "INVALID_ARGUMENT",
        ),
        (
            {"resourceNames": ["projects/emergence-469005"], "filter": "severity>=ERROR"},
            400,
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_bad_requests_get_google_error_bodies(body, status, google_status):
    doc = load_discovery("logging.v2")
    with FakeCloudLogging([]) as fake:
        answer = requests.post(f"{fake.url}/v2/entries:list", json=body, timeout=10)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    unknown = set(body) - set(doc["schemas"]["ListLogEntriesRequest"]["properties"])
    assert (unknown != set()) == ("pagesize" in body)


def test_the_fake_evaluates_the_reports_filter(export_entries):
    since = "2025-10-09T09:00:00Z"
    filter_ = logging_filter("emergence-app", 1760000400.0, None)  # 2025-10-09T09:00:00Z
    assert since.replace("Z", ".000Z") in filter_
    matches = compile_filter(filter_)
    kept = [e for e in export_entries if matches(e)]
    assert kept
    for e in kept:
        assert e["resource"]["labels"]["service_name"] == "emergence-app"
        assert e["timestamp"] >= since
        message = (e.get("jsonPayload") or {}).get("message") or e.get("textPayload") or ""
        assert any(m in message for m in ("MemoryAnalyzer", "nalys", "debate_"))
    request_logs = [e for e in export_entries if "httpRequest" in e]
    assert not any(matches(e) for e in request_logs)


def test_an_empty_page_with_a_token_is_followed(export_entries):
    with FakeCloudLogging(export_entries[:3], empty_pages=True) as fake:
        body = {"resourceNames": ["projects/emergence-469005"]}
        first = requests.post(f"{fake.url}/v2/entries:list", json=body, timeout=10).json()
        assert "entries" not in first and first["nextPageToken"]
        second = requests.post(
            f"{fake.url}/v2/entries:list",
            json={**body, "pageToken": first["nextPageToken"]},
            timeout=10,
        ).json()
        assert len(second["entries"]) == 3
