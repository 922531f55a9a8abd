"""The gate inside `pulumi up`: the DeploymentCheck provider called directly (as the engine would,
minus the CLI), against a real contract app and the shared fake Cloud Run Admin API; and the
program under the mock engine, which must register it after the service with the right inputs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from infra.config import SettingsError, load_stack_settings
from infra.mockrun import UNKNOWN, attempt, evaluate
from infra.providers.deployment_check import (
    DeploymentCheckFailed,
    DeploymentCheckProvider,
    changed_triggers,
)
from infra.rules.checks import DEFAULT_CHECK_LINES
from tests.conftest import PROJECT_ROOT, TEST_SMTP_PASSWORD
from tests.fakes.cloud_run import pinned
from tests.verify_helpers import ContractApp, json_response, serve

CHECK_TYPE = "pulumi-python:dynamic/verification:DeploymentCheck"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
IMAGE = "docker-build:index:Image"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
DIGEST = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app@sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def no_google(monkeypatch, tmp_path):
    """Nothing here reaches Google: credentials fail fast unless a test starts the fake."""
    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))


def props(url: str = "http://127.0.0.1:9", **overrides) -> dict:
    """The inputs Verification gives the provider, as they arrive over the wire."""
    base = {
        "__provider": "serialized-provider",
        "enabled": True,
        "stack": "prod",
        "project": "emergence-469005",
        "region": "europe-west1",
        "serviceName": "emergence-app",
        "url": url,
        "revision": "emergence-app-00005-abc",
        "imageDigest": DIGEST,
        "expectedRevision": "",
        "checks": list(DEFAULT_CHECK_LINES),
        "adminApi": False,
        "allowedServices": [],
        "revisionsToKeep": 3.0,
        "revisionSlack": 1.0,
        "http": {"connectTimeout": 1.0, "readTimeout": 1.0, "attempts": 1.0, "budget": 5.0},
    }
    base.update(overrides)
    return base


# ----------------------------------------------------------------------------- diff


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("revision", "emergence-app-00006-xyz"),
        ("imageDigest", DIGEST.replace("ab", "cd")),
        ("expectedRevision", "emergence-app-00004-abc"),
        ("enabled", False),
        ("checks", [*DEFAULT_CHECK_LINES, "version /api/version 200 json"]),
        ("url", "https://other.run.app"),
        ("allowedServices", ["emergence-app-canary"]),
    ],
)
def test_diff_runs_the_checks_again_when_a_trigger_changes(key, value):
    provider = DeploymentCheckProvider()
    olds = props()
    assert provider.diff("id", olds, props()).changes is False
    result = provider.diff("id", olds, props(**{key: value}))
    assert result.changes is True
    assert result.replaces == []  # an update re-runs the checks; nothing is replaced
    assert changed_triggers(olds, props(**{key: value})) == [key]


def test_diff_ignores_what_does_not_change_the_deployment():
    provider = DeploymentCheckProvider()
    slower = props(http={"readTimeout": 60.0, "attempts": 6.0})
    assert provider.diff("id", props(), slower).changes is False


def test_diff_with_an_unknown_revision_in_preview_shows_an_update_and_does_no_io():
    app = ContractApp()
    with serve(app) as url:
        provider = DeploymentCheckProvider()
        news = props(url, revision=rpc.UNKNOWN, imageDigest=rpc.UNKNOWN)
        assert provider.diff("id", props(url), news).changes is True
        assert provider.check(props(url), news).failures == []
    assert app.seen == []  # diff and check never call the service


# ----------------------------------------------------------------------------- create / update


def test_create_runs_the_checks_and_returns_every_output():
    app = ContractApp()
    with serve(app) as url:
        result = DeploymentCheckProvider().create(props(url))
    outs = result.outs
    assert result.id == "emergence-app-deployment-check"
    assert outs["passed"] is True
    assert outs["skipped"] is False
    assert outs["verifiedRevision"] == "emergence-app-00005-abc"
    assert [r["name"] for r in outs["results"]] == ["health", "metrics", "auth", "docs", "openapi"]
    assert outs["summary"] == "5 of 5 checks passed on emergence-app-00005-abc"
    # inputs come back too: a later diff compares against these
    assert outs["revision"] == "emergence-app-00005-abc"
    assert outs["imageDigest"] == DIGEST
    assert "__provider" not in outs
    assert len(app.seen) == 5


def test_update_that_fails_names_the_previous_revision_and_the_rollback_command():
    app = ContractApp({"/api/health": lambda _r: json_response({"status": "degraded"})})
    olds = props(verifiedRevision="emergence-app-00004-abc")
    with serve(app) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().update("id", olds, props(url))
    report = str(failed.value)
    assert report.startswith(
        "post-deploy verification failed for emergence-app revision emergence-app-00005-abc"
    )
    assert "sha256:" + "ab" * 32 in report
    assert "4 of 5 checks passed; failed: health" in report
    assert "status is 'degraded', want 'healthy'" in report
    assert "previous ready revision: emergence-app-00004-abc" in report
    assert (
        "pulumi config set --stack prod emergence-cloudrun:rollbackRevision "
        "emergence-app-00004-abc" in report
    )
    assert "pulumi up --stack prod" in report
    assert "pulumi config set --stack prod emergence-cloudrun:verifyDeployment false" in report


def test_first_deploy_that_fails_says_there_is_nothing_to_roll_back_to():
    app = ContractApp({"/api/chat/sessions": lambda _r: json_response([])})
    with serve(app) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(props(url))
    assert "authentication is off" in str(failed.value)
    assert "no earlier ready revision is kept" in str(failed.value)


def test_update_that_passes_records_the_new_revision_and_the_previous_one():
    with serve(ContractApp()) as url:
        outs = (
            DeploymentCheckProvider()
            .update("id", props(url, verifiedRevision="emergence-app-00004-abc"), props(url))
            .outs
        )
    assert outs["verifiedRevision"] == "emergence-app-00005-abc"
    assert outs["previousRevision"] == "emergence-app-00004-abc"


def test_switched_off_it_checks_nothing_and_says_so():
    app = ContractApp({"/api/health": lambda _r: json_response({}, 500)})
    provider = DeploymentCheckProvider()
    with serve(app) as url:
        created = provider.create(props(url, enabled=False)).outs
        updated = provider.update(
            "id", props(url, verifiedRevision="emergence-app-00004-abc"), props(url, enabled=False)
        ).outs
    assert app.seen == []
    assert created["skipped"] is True
    assert created["passed"] is None
    assert created["summary"] == "skipped: emergence-cloudrun:verifyDeployment is false"
    assert updated["verifiedRevision"] == "emergence-app-00004-abc"  # the last real verdict


def test_check_refuses_bad_check_lines_before_anything_runs():
    failures = DeploymentCheckProvider().check({}, props(checks=["health api/health 200"])).failures
    assert [f.property for f in failures] == ["checks"]
    assert "must start with a single '/'" in failures[0].reason


def test_the_provider_is_stateless_and_loads_in_a_fresh_process():
    provider = DeploymentCheckProvider()
    assert vars(provider) == {}  # no session, client or token pickled into the state
    blob = serialize_provider(provider)
    script = (
        "import base64, sys, dill\n"
        "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "print(type(p).__module__, p.diff('id', {'revision': 'a'}, {'revision': 'b'}).changes)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=blob,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["infra.providers.deployment_check", "True"]


# ----------------------------------------------------------------------------- a private service

ID_TOKEN = "test-id-token"  # a stand-in, never a credential


def cloud_run_front(app):
    """Cloud Run's IAM check in front of a private service: 403 without an ID token."""

    def front(environ, start_response):
        if environ.get("HTTP_X_SERVERLESS_AUTHORIZATION") != f"Bearer {ID_TOKEN}":
            start_response("403 Forbidden", [("Content-Type", "text/html")])
            return [b"<html><body>Error: Forbidden</body></html>"]
        return app(environ, start_response)

    return front


def test_private_service_checks_carry_an_id_token_and_no_app_credentials(monkeypatch):
    audiences = []

    def fake_headers(audience):
        audiences.append(audience)
        return {"X-Serverless-Authorization": f"Bearer {ID_TOKEN}"}

    monkeypatch.setattr("infra.probes.verify.invoker_headers", fake_headers)
    app = ContractApp()
    with serve(cloud_run_front(app)) as url:
        outs = DeploymentCheckProvider().create(props(url, invokerToken=True)).outs
    assert outs["passed"] is True
    assert audiences == [url]
    assert all("Authorization" not in r.headers for r in app.seen)  # the 401 check still holds


def test_private_service_checked_anonymously_is_refused_by_the_front_end():
    with (
        serve(cloud_run_front(ContractApp())) as url,
        pytest.raises(DeploymentCheckFailed) as failed,
    ):
        DeploymentCheckProvider().create(props(url, invokerToken=False))
    assert "0 of 5 checks passed" in str(failed.value)
    assert "the service refuses anonymous requests" in str(failed.value)


def test_private_service_without_an_id_token_fails_the_gate_and_says_why():
    # GOOGLE_APPLICATION_CREDENTIALS names a missing file (fixture above): google-auth refuses
    app = ContractApp()
    with serve(app) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(props(url, invokerToken=True))
    assert "no ID token to call the private service" in str(failed.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(failed.value)
    assert app.seen == []


# ----------------------------------------------------------------------------- with the Admin API


def healthy_fake(fake, deploys: int = 3) -> list[str]:
    fake.add_service("emergence-app")
    return [fake.deploy("emergence-app") for _ in range(deploys)]


def admin_props(url: str, revisions: list[str], **overrides) -> dict:
    return props(url, adminApi=True, revision=revisions[-1], **overrides)


def test_gate_with_the_admin_api_passes_a_healthy_deploy(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run)
    with serve(ContractApp()) as url:
        outs = DeploymentCheckProvider().create(admin_props(url, revisions)).outs
    by_name = {r["name"]: r for r in outs["results"]}
    assert set(by_name) == {
        "health",
        "metrics",
        "auth",
        "docs",
        "openapi",
        "traffic",
        "services",
        "revisions",
    }
    assert by_name["traffic"]["reason"] == f"100% on {revisions[-1]}"
    assert by_name["services"]["reason"] == "only emergence-app"
    assert outs["previousRevision"] == revisions[-2]  # from the API: no earlier verdict in state


def test_gate_fails_when_traffic_is_split(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run)
    fake_cloud_run.set_traffic(
        "emergence-app", [pinned(revisions[1], 90), pinned(revisions[2], 10)]
    )
    with serve(ContractApp()) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(admin_props(url, revisions))
    report = str(failed.value)
    assert (
        f"traffic is {revisions[1]} 90%, {revisions[2]} 10%; want 100% on {revisions[2]}" in report
    )
    assert f"emergence-cloudrun:rollbackRevision {revisions[1]}" in report


def test_gate_passes_when_traffic_is_pinned_to_the_rollback_target(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run)
    fake_cloud_run.set_traffic("emergence-app", [pinned(revisions[0])])
    with serve(ContractApp()) as url:
        outs = (
            DeploymentCheckProvider()
            .create(admin_props(url, revisions, expectedRevision=revisions[0]))
            .outs
        )
    traffic = next(r for r in outs["results"] if r["name"] == "traffic")
    assert traffic["passed"] is True
    assert traffic["reason"] == f"100% on {revisions[0]}"


def test_gate_resolves_a_latest_status_without_a_revision_name(fake_cloud_run):
    fake_cloud_run.latest_status_names_revision = False
    revisions = healthy_fake(fake_cloud_run)
    assert "revision" not in fake_cloud_run.service("emergence-app")["trafficStatuses"][0]
    with serve(ContractApp()) as url:
        outs = DeploymentCheckProvider().create(admin_props(url, revisions)).outs
    assert outs["passed"] is True


def test_gate_fails_on_a_leftover_canary_unless_it_is_allowed(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run)
    fake_cloud_run.add_service("emergence-app-canary")
    fake_cloud_run.deploy("emergence-app-canary")
    with serve(ContractApp()) as url:
        with pytest.raises(DeploymentCheckFailed) as failed:
            DeploymentCheckProvider().create(admin_props(url, revisions))
        allowed = DeploymentCheckProvider().create(
            admin_props(url, revisions, allowedServices=["emergence-app-canary"])
        )
    assert "leftover service emergence-app-canary" in str(failed.value)
    row = next(line for line in str(failed.value).splitlines() if line.startswith("services "))
    assert row.split()[:5] == ["services", "services", "in", "europe-west1", "FAIL"]
    assert allowed.outs["passed"] is True


def test_gate_fails_when_revisions_pile_up(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run, deploys=6)
    with serve(ContractApp()) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(admin_props(url, revisions))
    report = str(failed.value)
    assert "6 revisions, want at most 4 (emergence-cloudrun:revisionsToKeep=3)" in report
    assert f"surplus {revisions[2]}, {revisions[1]}, {revisions[0]}" in report


def test_gate_fails_when_the_service_cannot_be_read(fake_cloud_run):
    revisions = healthy_fake(fake_cloud_run)
    with serve(ContractApp()) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(admin_props(url, revisions, serviceName="emergence-ap"))
    assert "404 NOT_FOUND" in str(failed.value)


def test_gate_without_google_credentials_fails_and_says_how_to_fix_it():
    with serve(ContractApp()) as url, pytest.raises(DeploymentCheckFailed) as failed:
        DeploymentCheckProvider().create(admin_props(url, ["emergence-app-00005-abc"]))
    assert "admin-api" in str(failed.value)
    assert "gcloud auth application-default login" in str(failed.value)


# ----------------------------------------------------------------------------- in the program


def test_program_registers_the_gate_after_the_service_with_its_outputs(prod):
    check = prod.one(CHECK_TYPE)
    service = prod.one(RUN_SERVICE)
    verification = prod.by_urn(check.parent)
    assert verification.type == "emergence:verification:Verification"
    assert check.name == "verify-check"
    # it waits for the service and its public invoker binding (else the checks would see 403)
    assert service.urn in check.dependencies
    assert prod.one(INVOKER).urn in check.dependencies
    assert check.inputs["url"] == service.outputs["uri"]
    assert check.inputs["revision"] == service.outputs["latestReadyRevision"]
    assert check.inputs["imageDigest"] == prod.image_digest()
    # prod's own checks (the real app's contract), exactly as the stack file lists them
    assert check.inputs["checks"] == list(
        load_stack_settings("prod", supplied_secrets=["smtpPassword"]).verify_checks
    )
    assert check.inputs["checks"] != list(DEFAULT_CHECK_LINES)
    assert "health /api/health 200 json status=ok" in check.inputs["checks"]
    assert check.inputs["enabled"] is True
    assert check.inputs["adminApi"] is True
    assert check.inputs["expectedRevision"] == ""
    assert (check.inputs["project"], check.inputs["region"]) == ("emergence-469005", "europe-west1")
    assert check.inputs["revisionsToKeep"] == 3
    assert check.inputs["invokerToken"] is False  # public by default: anonymous checks
    assert prod.outputs["verifyDeployment"] is True


def test_a_private_service_gets_checks_with_an_id_token():
    ev = evaluate(
        "prod", config={"publicAccess": "private"}, secrets={"smtpPassword": TEST_SMTP_PASSWORD}
    )
    assert ev.one(CHECK_TYPE).inputs["invokerToken"] is True


def test_program_in_preview_gives_the_gate_unknown_revision_and_url(prod_preview):
    check = prod_preview.one(CHECK_TYPE)
    assert check.inputs["revision"] is UNKNOWN
    assert check.inputs["url"] is UNKNOWN
    assert prod_preview.outputs["deploymentCheck"] is UNKNOWN


def test_program_passes_rollback_allowed_services_and_added_checks(fake_cloud_run):
    fake_cloud_run.deploy("emergence-app", revision_id="emergence-app-00041-xyz")  # pre-check
    checks = [*DEFAULT_CHECK_LINES, "version /api/version 200 json"]
    ev = evaluate(
        "prod",
        config={
            "rollbackRevision": "emergence-app-00041-xyz",
            "verifyAllowedServices": ["emergence-app-canary"],
            "verifyChecks": checks,
        },
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    check = ev.one(CHECK_TYPE)
    assert check.inputs["expectedRevision"] == "emergence-app-00041-xyz"
    assert check.inputs["allowedServices"] == ["emergence-app-canary"]
    assert check.inputs["checks"] == checks


def test_switch_off_is_declared_and_visible_in_the_stack_outputs():
    ev = evaluate(
        "prod",
        config={"verifyDeployment": False},
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    assert ev.one(CHECK_TYPE).inputs["enabled"] is False
    assert ev.outputs["verifyDeployment"] is False


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"verifyChecks": ["health api/health 200"]}, "verifyChecks", "entry 0"),
        ({"verifyChecks": []}, "verifyChecks", "is empty"),
        ({"verifyChecks": "health /api/health 200"}, "verifyChecks", "not a list of strings"),
        ({"verifyAllowedServices": ["Bad_Name"]}, "verifyAllowedServices", "'Bad_Name'"),
        ({"verifyAllowedServices": ["emergence-app"]}, "verifyAllowedServices", "itself"),
    ],
)
def test_bad_verification_settings_name_the_key_and_register_nothing(config, key, fragment):
    ev, error = attempt("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    assert isinstance(error, SettingsError)
    assert f"emergence-cloudrun:{key}" in error.keys
    assert fragment in str(error)
    assert ev.custom() == []
