"""Stack prod's checks are the real app's contract: a stand-in answering like emergence-app at
e7b0d75 passes them (and fails the reference app's), and each way the real app breaks fails
the check meant for it."""

from __future__ import annotations

import pytest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.wrappers import Response

from infra.cli import main
from infra.config import load_stack_settings
from infra.probes.verify import HttpPolicy, run_checks
from infra.rules.checks import DEFAULT_CHECKS, parse_checks
from tests.verify_helpers import ContractApp, json_response, serve

FAST = HttpPolicy(connect_timeout=1.0, read_timeout=1.0, attempts=1, backoff=0.01, budget=5.0)
METRICS = (
    "# HELP concept_recall_system_info Concept recall configuration\n"
    "# TYPE concept_recall_system_info gauge\n"
    'concept_recall_system_info{collection_name="emergence_knowledge",version="1.0"} 1.0\n'
)
DISABLED = "# Metrics disabled. Set CONCEPT_RECALL_METRICS_ENABLED=true to enable.\n"


def real_app(metrics_enabled: bool = True, **overrides):
    """Routes as the real app serves them (research notes, section 6): health says "ok",
    Prometheus under /api/metrics/metrics (a comment when disabled), 401 on /api/auth/session
    without a bearer token; /api/metrics and /api/chat/sessions do not exist."""

    def metrics(_request):
        body = METRICS if metrics_enabled else DISABLED
        return Response(body, content_type=CONTENT_TYPE_LATEST)

    def session(request):
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return json_response({"detail": "ID token invalide ou absent."}, 401)
        return json_response({"detail": "AuthService indisponible."}, 503)

    app = ContractApp(
        {
            "/api/health": lambda _r: json_response(
                {"status": "ok", "message": "Emergence Backend is running."}
            ),
            "/api/metrics/metrics": metrics,
            "/api/auth/session": session,
            **overrides,
        }
    )
    for gone in ("/api/metrics", "/api/chat/sessions"):
        app.routes.pop(gone, None)
    return app


@pytest.fixture(scope="module")
def prod_checks():
    return parse_checks(
        load_stack_settings("prod", supplied_secrets=["smtpPassword"]).verify_checks
    )


def verdicts(app, specs):
    with serve(app) as url:
        return {r.name: r for r in run_checks(url, specs, policy=FAST)}


def test_the_real_app_passes_prods_checks_and_fails_the_reference_contract(prod_checks):
    results = verdicts(real_app(), prod_checks)
    assert {name: r.passed for name, r in results.items()} == {
        "health": True,
        "metrics": True,
        "auth": True,
        "docs": True,
        "openapi": True,
    }
    reference = verdicts(real_app(), DEFAULT_CHECKS)
    assert {n for n, r in reference.items() if not r.passed} == {"health", "metrics", "auth"}


@pytest.mark.parametrize(
    ("app", "failed"),
    [
        (real_app(metrics_enabled=False), {"metrics"}),
        (real_app(**{"/api/health": lambda _r: json_response({"status": "degraded"})}), {"health"}),
        (real_app(**{"/api/health": lambda _r: json_response({"detail": "x"}, 500)}), {"health"}),
        (
            real_app(**{"/api/auth/session": lambda _r: json_response({"email": "dev@local"})}),
            {"auth"},
        ),
        (real_app(**{"/docs": lambda _r: json_response({"detail": "Not Found"}, 404)}), {"docs"}),
    ],
    ids=["metrics-disabled", "health-degraded", "health-500", "auth-open", "no-docs"],
)
def test_a_broken_real_app_fails_the_check_meant_for_it(prod_checks, app, failed):
    results = verdicts(app, prod_checks)
    assert {n for n, r in results.items() if not r.passed} == failed


def test_verify_by_hand_uses_prods_checks(capsys):
    with serve(real_app()) as url:
        code = main(["verify", url, "--stack", "prod", "--attempts", "1", "--no-admin"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "/api/metrics/metrics" in out and "/api/auth/session" in out
    assert "PASS: 5 of 5 checks passed" in out
