"""The rollback pre-check: the pure verdict (infra/rules/rollback.py) and the Admin API lookup
(infra/preflight/rollback.py)."""

from __future__ import annotations

import dataclasses

import pytest

from infra.config import load_stack_settings
from infra.preflight.rollback import RollbackError, check_rollback_target
from infra.rules.rollback import verdict
from tests.fakes.cloud_run import FakeCloudRun

SERVICE = "emergence-app"
PARENT = "projects/emergence-469005/locations/europe-west1/services"


def revision(name: str, state: str = "CONDITION_SUCCEEDED", service: str = SERVICE, **extra):
    return {
        "name": f"{PARENT}/{service}/revisions/{name}",
        "service": f"{PARENT}/{service}",
        "createTime": "2025-01-01T00:00:00Z",
        "conditions": [{"type": "Ready", "state": state, **extra}],
    }


@pytest.fixture(scope="module")
def base_settings():
    return load_stack_settings("prod", supplied_secrets=["smtpPassword"])


def settings_with(base, target: str | None):
    return dataclasses.replace(base, rollback_revision=target)


def test_verdict():
    wanted = "emergence-app-00003-abc"
    assert verdict(revision(wanted), SERVICE, wanted) is None
    assert (
        verdict(None, SERVICE, wanted) == f"revision {wanted} does not exist in service {SERVICE}"
    )
    assert verdict(revision(wanted, service="other-app"), SERVICE, wanted) == (
        f"revision {wanted} belongs to service other-app, not {SERVICE}"
    )
    failed = revision(wanted, "CONDITION_FAILED", message="container failed to start")
    assert verdict(failed, SERVICE, wanted) == (
        f"revision {wanted} is not Ready (Ready: CONDITION_FAILED): container failed to start"
    )
    no_condition = {**revision(wanted), "conditions": []}
    assert "no Ready condition" in verdict(no_condition, SERVICE, wanted)
    no_service_field = {
        k: v for k, v in revision(wanted, service="other-app").items() if k != "service"
    }
    assert "belongs to service other-app" in verdict(no_service_field, SERVICE, wanted)


def test_no_rollback_makes_no_call(base_settings):
    def refuse():
        raise AssertionError("no client may be created when rollbackRevision is empty")

    assert check_rollback_target(settings_with(base_settings, None), client_factory=refuse) is None


def test_a_ready_revision_of_the_service_passes(fake_cloud_run, base_settings):
    target = fake_cloud_run.deploy(SERVICE)
    fake_cloud_run.deploy(SERVICE)
    found = check_rollback_target(settings_with(base_settings, target))
    assert found is not None
    assert found.revision == target
    assert (
        found.digest
        == fake_cloud_run.revision(SERVICE, target)["containerStatuses"][0]["imageDigest"]
    )
    assert fake_cloud_run.count() == 1  # one GET; the list is read only to explain a failure


def test_a_missing_service_is_reported(fake_cloud_run, base_settings):
    with pytest.raises(RollbackError, match="does not exist in service emergence-app"):
        check_rollback_target(settings_with(base_settings, "emergence-app-00001-abc"))


def test_a_refused_lookup_names_the_permission(base_settings, monkeypatch):
    with FakeCloudRun() as fake:
        monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", fake.url)
        target = fake.deploy(SERVICE)
        fake.fail_next(1, 403, path_contains="/revisions/")
        with pytest.raises(RollbackError) as info:
            check_rollback_target(settings_with(base_settings, target))
    assert "run.revisions.get" in str(info.value)
    assert "nothing was changed" in str(info.value)


def test_missing_credentials_say_how_to_fix(base_settings, monkeypatch):
    import google.auth
    import google.auth.exceptions

    def missing(**kwargs):
        raise google.auth.exceptions.DefaultCredentialsError("not found")

    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.setattr(google.auth, "default", missing)
    with pytest.raises(RollbackError) as info:
        check_rollback_target(settings_with(base_settings, "emergence-app-00001-abc"))
    assert "gcloud auth application-default login" in str(info.value)
    assert "emergence-cloudrun:rollbackRevision=emergence-app-00001-abc" in str(info.value)
