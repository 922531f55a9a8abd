"""The verdicts of post-deploy verification, as pure functions (no server)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.rules.checks import (
    CHECKS_KEY,
    CONTENT_KINDS,
    DEFAULT_CHECKS,
    CheckResult,
    CheckSpec,
    CheckSpecError,
    format_table,
    judge_leftover_services,
    judge_response,
    judge_revision_count,
    judge_traffic,
    parse_check,
    parse_checks,
    previous_ready_revision,
    protected_revisions,
    rollback_advice,
    summary,
    traffic_allocation,
)

SPECS = {spec.name: spec for spec in DEFAULT_CHECKS}
PROM = b"# HELP up Up.\n# TYPE up gauge\nup 1\n"

# ----------------------------------------------------------------------------- check specs


def test_default_checks_are_the_service_contract():
    assert [s.line() for s in DEFAULT_CHECKS] == [
        "health /api/health 200 json status=healthy",
        "metrics /api/metrics 200 prometheus",
        "auth /api/chat/sessions 401 any",
        "docs /docs 200 html",
        "openapi /openapi.json 200 json",
    ]


def test_a_team_adds_a_path_with_one_line():
    specs = parse_checks([*[s.line() for s in DEFAULT_CHECKS], "version /api/version 200 json"])
    assert specs[-1] == CheckSpec("version", "/api/version", 200, "json")
    nested = parse_check("ready /api/ready 200 json checks.db=ok")
    assert (nested.field, nested.value) == ("checks.db", "ok")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("health /api/health", "is not '<name> <path> <status>"),
        ("Health /api/health 200", "check name 'Health'"),
        ("health api/health 200", "must start with a single '/'"),
        ("health //evil.example/x 200", "must start with a single '/'"),
        ("health /api/health 2000", "must be an HTTP status code"),
        ("health /api/health 200 xml", "must be one of any, json, html, prometheus"),
        ("health /api/health 200 html status=healthy", "needs content 'json'"),
        ("health /api/health 200 json status=", "expected '<field>=<value>'"),
    ],
)
def test_bad_check_lines_name_the_setting_the_entry_and_the_problem(line, fragment):
    with pytest.raises(CheckSpecError) as caught:
        parse_checks(["docs /docs 200 html", line])
    message = str(caught.value)
    assert message.startswith(f"{CHECKS_KEY}: entry 1: ")
    assert fragment in message


def test_duplicate_names_and_empty_or_scalar_settings_are_refused():
    with pytest.raises(CheckSpecError, match="'docs' is used twice"):
        parse_checks(["docs /docs 200 html", "docs /redoc 200 html"])
    with pytest.raises(CheckSpecError, match="verifyDeployment false"):
        parse_checks([])
    with pytest.raises(CheckSpecError, match="must be a list"):
        parse_checks("health /api/health 200")


@st.composite
def check_specs(draw):
    content = draw(st.sampled_from(CONTENT_KINDS))
    field = value = None
    if content == "json" and draw(st.booleans()):
        field = draw(st.from_regex(r"[a-z][a-z0-9_.]{0,10}", fullmatch=True))
        value = draw(st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True))
    return CheckSpec(
        name=draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)),
        path=draw(
            st.from_regex(r"/[a-zA-Z0-9._~/-]{0,30}", fullmatch=True).filter(
                lambda p: not p.startswith("//")
            )
        ),
        status=draw(st.integers(100, 599)),
        content=content,
        field=field,
        value=value,
    )


@given(check_specs())
def test_a_spec_survives_its_text_form(spec):
    assert parse_check(spec.line()) == spec


# ----------------------------------------------------------------------------- HTTP verdicts


@pytest.mark.parametrize(
    ("check", "status", "ctype", "body", "expected"),
    [
        ("health", 200, "application/json", b'{"status": "healthy"}', (True, "'healthy'")),
        ("health", 500, "application/json", b'{"status": "healthy"}', (False, "got 500, want 200")),
        ("health", 200, "application/json", b'{"status": "degraded"}', (False, "'degraded'")),
        ("health", 200, "text/plain", b"OK", (False, "not JSON")),
        ("health", 200, "application/json", b'{"state": "healthy"}', (False, "no field 'status'")),
        ("health", 200, "application/json", b'["healthy"]', (False, "no field 'status'")),
        ("metrics", 200, "text/plain", PROM, (True, "1 samples in 1 metric families")),
        (
            "metrics",
            200,
            "text/html",
            b"<html><body>metrics</body></html>",
            (False, "not Prometheus"),
        ),
        ("metrics", 200, "application/json", b'{"up": 1}', (False, "not Prometheus")),
        ("metrics", 200, "text/plain", b"# TYPE up gauge\n", (False, "no samples")),
        ("metrics", 200, "text/plain", b"", (False, "no samples")),
        ("auth", 401, "application/json", b"{}", (True, "401")),
        ("auth", 200, "application/json", b"[]", (False, "authentication is off")),
        ("auth", 403, "application/json", b"{}", (False, "got 403, want 401")),
        ("auth", 500, "text/plain", b"boom", (False, "got 500, want 401")),
        ("docs", 200, "text/html; charset=utf-8", b"<!DOCTYPE html><html></html>", (True, "HTML")),
        ("docs", 200, "application/json", b"{}", (False, "want 'text/html'")),
        ("docs", 200, "text/html", b"nothing here", (False, "without an <html> element")),
        ("docs", 302, "text/html", b"", (False, "redirect")),
        ("openapi", 200, "application/json", b'{"openapi": "3.1.0"}', (True, "valid JSON")),
        ("openapi", 200, "application/json", b'{"openapi": ', (False, "not JSON")),
    ],
)
def test_judge_response(check, status, ctype, body, expected):
    passed, fragment = expected
    verdict, reason = judge_response(SPECS[check], status, ctype, body)
    assert verdict is passed
    assert fragment in reason
    assert "\n" not in reason


def test_json_values_that_are_not_strings_compare_by_their_json_text():
    spec = parse_check("ready /ready 200 json checks.ready=true")
    assert judge_response(spec, 200, "", b'{"checks": {"ready": true}}')[0] is True
    assert judge_response(spec, 200, "", b'{"checks": {"ready": "true"}}')[0] is True
    assert judge_response(spec, 200, "", b'{"checks": {"ready": false}}')[0] is False


# ----------------------------------------------------------------------------- Admin API verdicts

SVC = "projects/emergence-469005/locations/europe-west1/services/emergence-app"


def rev(n: int, ready: bool = True) -> dict:
    state = "CONDITION_SUCCEEDED" if ready else "CONDITION_FAILED"
    return {
        "name": f"{SVC}/revisions/emergence-app-{n:05d}-abc",
        "createTime": f"2026-11-{n:02d}T10:00:00Z",
        "conditions": [{"type": "Ready", "state": state}],
    }


def name(n: int) -> str:
    return f"emergence-app-{n:05d}-abc"


def service(traffic: list[dict], latest: int = 5) -> dict:
    return {
        "name": SVC,
        "latestReadyRevision": f"{SVC}/revisions/{name(latest)}",
        "latestCreatedRevision": f"{SVC}/revisions/{name(latest)}",
        "trafficStatuses": traffic,
    }


def test_traffic_all_on_latest_passes_and_resolves_the_latest_entry():
    svc = service([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}])
    assert traffic_allocation(svc) == {name(5): 100}
    result = judge_traffic(svc, None)
    assert result.passed
    assert result.reason == f"100% on {name(5)}"


def test_traffic_split_fails_and_shows_the_split():
    svc = service(
        [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(4), "percent": 90},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(5), "percent": 10},
        ]
    )
    result = judge_traffic(svc, f"{SVC}/revisions/{name(5)}")
    assert not result.passed
    assert f"{name(4)} 90%, {name(5)} 10%" in result.reason
    assert f"want 100% on {name(5)}" in result.reason


def test_traffic_pinned_elsewhere_fails_for_the_new_revision_and_passes_for_the_pin():
    pinned = [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(3), "percent": 100}
    ]
    assert not judge_traffic(service(pinned), name(5)).passed
    assert judge_traffic(service(pinned), name(3)).passed


def test_leftover_canary_is_named_and_an_allowed_exception_passes():
    services = [{"name": SVC}, {"name": SVC + "-canary"}]
    result = judge_leftover_services(services, "emergence-app", region="europe-west1")
    assert not result.passed
    assert "emergence-app-canary" in result.reason
    assert "verifyAllowedServices" in result.reason
    allowed = judge_leftover_services(services, "emergence-app", ["emergence-app-canary"])
    assert allowed.passed
    assert "allowed: emergence-app-canary" in allowed.reason
    assert not judge_leftover_services([], "emergence-app").passed


def test_revision_count_limits_and_protected_extras():
    revisions = [rev(n) for n in range(1, 5)]  # 4 ready revisions
    assert judge_revision_count(revisions, 3, slack=1).passed  # the gate runs before retention
    over = judge_revision_count(revisions, 3)
    assert not over.passed
    assert "4 revisions, want at most 3" in over.reason
    assert name(1) in over.reason
    # a pinned rollback target older than the 3 newest is kept by retention, so allowed
    assert judge_revision_count(revisions, 3, protected={name(1)}).passed
    assert judge_revision_count(revisions[:1], 1).passed


def test_protected_revisions_are_serving_tagged_latest_and_pinned():
    svc = service(
        [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": name(4),
                "percent": 100,
            },
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(2), "tag": "blue"},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(1), "percent": 0},
        ]
    )
    assert protected_revisions(svc, pinned=name(3)) == {name(5), name(4), name(3), name(2)}


def test_a_traffic_change_still_rolling_out_protects_both_revisions():
    # Desired traffic moved to name(4); the status still shows name(3) serving.
    svc = service(
        [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(3), "percent": 100}]
    )
    svc["traffic"] = [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": name(4), "percent": 100}
    ]
    assert {name(4), name(3)} <= protected_revisions(svc)


def test_previous_ready_revision_prefers_the_last_verified_one():
    revisions = [rev(1), rev(2), rev(3, ready=False), rev(4), rev(5)]
    assert previous_ready_revision(revisions, name(5)) == name(4)
    assert previous_ready_revision(revisions, name(5), last_verified=name(2)) == name(2)
    # a verified revision that was deleted or failed is not offered
    assert previous_ready_revision(revisions, name(5), last_verified=name(3)) == name(4)
    assert previous_ready_revision(revisions, name(4)) == name(2)
    assert previous_ready_revision([rev(5)], name(5)) is None


def test_rollback_advice_gives_the_exact_commands():
    advice = rollback_advice(name(4), "prod")
    assert f"pulumi config set --stack prod emergence-cloudrun:rollbackRevision {name(4)}" in advice
    assert "pulumi up --stack prod" in advice
    assert "revisionsToKeep is 1" in rollback_advice(None, "prod", keep=1)


def test_table_and_summary():
    results = [
        CheckResult("health", "/api/health", True, 200, 12.3, "status is 'healthy'"),
        CheckResult("auth", "/api/chat/sessions", False, 200, 3.0, "auth is off", attempts=2),
    ]
    table = format_table(results).splitlines()
    assert table[0].split() == ["CHECK", "TARGET", "RESULT", "STATUS", "LATENCY", "REASON"]
    assert table[1].split()[:5] == ["health", "/api/health", "pass", "200", "12"]
    assert "FAIL" in table[2]
    assert "(2 tries)" in table[2]
    assert summary(results) == "1 of 2 checks passed; failed: auth"
    assert CheckResult.from_dict(json.loads(json.dumps(results[1].to_dict()))) == results[1]
