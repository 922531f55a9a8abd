"""`python -m infra phase2` reading from the Cloud Logging API (a local fake of entries:list)."""

from __future__ import annotations

import json

import pytest

from infra.cli import main
from tests.conftest import PROJECT_ROOT
from tests.fakes.cloud_logging import FakeCloudLogging

DATA = PROJECT_ROOT / "tests" / "data" / "phase2"
WINDOW = ["--since", "2025-10-09T07:00:00Z", "--until", "2025-10-09T12:00:00Z"]


@pytest.fixture(scope="module")
def api_entries() -> list[dict]:
    """The export as the API holds it: Logging gives every entry a timestamp (the receive time
    when the writer gave none)."""
    entries = []
    for exported in json.loads((DATA / "after-gcloud.json").read_text(encoding="utf-8")):
        stamp = exported.get("timestamp") or exported.get("receiveTimestamp")
        if stamp is not None:
            entries.append({**exported, "timestamp": stamp})
    return entries


@pytest.fixture
def fake_logging(api_entries, monkeypatch):
    with FakeCloudLogging(api_entries) as fake:
        monkeypatch.setenv("LOGGING_API_ENDPOINT", fake.url)
        yield fake


def report(argv, capsys) -> dict:
    assert main(["phase2", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_api_gives_the_same_figures_as_the_export(fake_logging, api_entries, tmp_path, capsys):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(api_entries, indent=2, ensure_ascii=False), encoding="utf-8")
    from_file = report(["--file", str(export), *WINDOW], capsys)
    from_api = report([*WINDOW, "--page-size", "100"], capsys)
    for section in ("cache", "analysis_latency", "debates", "figures", "verdict", "observed"):
        assert from_api[section] == from_file[section], section
    # The server did the filtering: only the service's candidate lines crossed the network.
    counts = from_api["entries"]
    assert counts["other_service"] == counts["other_resource"] == counts["without_message"] == 0
    assert counts["recognised"] == from_file["entries"]["recognised"]
    assert counts["read"] < from_file["entries"]["read"] / 2


def test_paging_follows_next_page_token_with_the_same_request(fake_logging, capsys):
    report([*WINDOW, "--page-size", "200"], capsys)
    bodies = fake_logging.requests
    assert len(bodies) > 3
    assert bodies[0]["resourceNames"] == ["projects/emergence-469005"]
    assert bodies[0]["orderBy"] == "timestamp desc"
    assert all(b["pageSize"] == 200 for b in bodies)
    assert "pageToken" not in bodies[0]
    for body, previous in zip(bodies[1:], fake_logging.responses, strict=False):
        assert body["pageToken"] == previous["nextPageToken"]
        assert {k: v for k, v in body.items() if k != "pageToken"} == {
            k: v for k, v in bodies[0].items() if k != "pageToken"
        }
    assert "nextPageToken" not in fake_logging.responses[-1]
    assert 'resource.labels.service_name="emergence-app"' in bodies[0]["filter"]
    assert 'timestamp>="2025-10-09T07:00:00.000Z"' in bodies[0]["filter"]


def test_the_default_window_is_the_last_24_hours(fake_logging, capsys):
    result = report([], capsys)
    assert result["entries"]["read"] == 0  # the data is from 2025: nothing in the last day
    assert 'timestamp>="' in fake_logging.requests[0]["filter"]
    assert result["window"]["since"] is not None


def test_empty_pages_with_a_token_are_followed(api_entries, monkeypatch, capsys):
    with FakeCloudLogging(api_entries[:500], empty_pages=True) as fake:
        monkeypatch.setenv("LOGGING_API_ENDPOINT", fake.url)
        result = report([*WINDOW, "--page-size", "50"], capsys)
    assert result["entries"]["read"] > 0
    assert sum(1 for r in fake.responses if "entries" not in r) >= result["entries"]["read"] // 50


def test_a_throttled_request_is_retried(fake_logging, capsys):
    fake_logging.fail_next(1, 429, retry_after="0")
    result = report([*WINDOW], capsys)
    assert result["cache"]["hits"] > 0
    assert fake_logging.requests[0] == fake_logging.requests[1]  # the same request, again


def test_a_permission_error_is_one_clear_line(fake_logging, capsys):
    assert main(["phase2", *WINDOW, "--project", "someone-elses-project"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Cloud Logging:")
    assert "PERMISSION_DENIED" in err and len(err.splitlines()) == 1


def test_a_baseline_window_is_read_from_the_api_like_an_export(tmp_path, monkeypatch, capsys):
    """The real app's entries of two windows in the fake: the baseline window gives the same
    cost lines as the baseline export, and the report the same cost figure."""
    after = json.loads((DATA / "realapp-after.json").read_text(encoding="utf-8"))
    before = json.loads((DATA / "realapp-before.json").read_text(encoding="utf-8"))
    files = [
        "--file",
        str(DATA / "realapp-after.json"),
        "--baseline-file",
        str(DATA / "realapp-before.json"),
    ]
    from_files = report(files, capsys)
    windows = [
        "--since",
        "2025-10-12T07:00:00Z",
        "--until",
        "2025-10-12T12:00:00Z",
        "--baseline-since",
        "2025-10-05T07:00:00Z",
        "--baseline-until",
        "2025-10-05T12:00:00Z",
    ]
    with FakeCloudLogging(after + before) as fake:
        monkeypatch.setenv("LOGGING_API_ENDPOINT", fake.url)
        from_api = report([*windows, "--page-size", "300"], capsys)
    for section in ("window", "baseline", "ratio", "per"):
        assert from_api["cost"][section] == from_files["cost"][section], section
    cost = next(f for f in from_api["figures"] if f["key"] == "api_cost_ratio")
    assert cost == next(f for f in from_files["figures"] if f["key"] == "api_cost_ratio")
    assert (
        "Cloud Logging from 2025-10-05 07:00 UTC to 2025-10-05 12:00 UTC"
        in (from_api["cost"]["baseline_source"])
    )
    baseline_requests = [b for b in fake.requests if 'timestamp>="2025-10-05' in b["filter"]]
    assert baseline_requests and all("Coût de" in b["filter"] for b in baseline_requests)
