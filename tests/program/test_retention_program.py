"""The program under Pulumi's mocks: retention is registered after the service and the gate with
the settings' values, and a bad rollback target stops the program before any resource."""

from __future__ import annotations

import base64

import dill
import pytest

from infra.mockrun import UNKNOWN, attempt, evaluate
from infra.preflight.rollback import RollbackError
from infra.providers.retention import RetentionProvider
from tests.conftest import TEST_SMTP_PASSWORD

RETENTION = "emergence:retention:Retention"
RETENTION_RUN = "pulumi-python:dynamic/retention:RevisionRetention"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
IMAGE = "docker-build:index:Image"
CHECK = "pulumi-python:dynamic/verification:DeploymentCheck"
SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}


def test_retention_runs_after_the_service_and_the_gate_with_the_settings(prod):
    component = prod.one(RETENTION)
    run = prod.one(RETENTION_RUN)
    service = prod.one(RUN_SERVICE)
    assert run.parent == component.urn
    assert run.name == "retention-revisions"
    assert service.urn in run.dependencies
    assert prod.one(CHECK).urn in run.dependencies  # a failed gate stops the pruning
    assert {k: v for k, v in run.inputs.items() if k != "__provider"} == {
        "project": "emergence-469005",
        "location": "europe-west1",
        "service": "emergence-app",
        "revisionsToKeep": 3,
        "dryRun": False,
        "pinnedRevision": "",
        "latestRevision": service.outputs["latestReadyRevision"],
        "imageDigest": prod.image_digest(),
        "operationTimeoutSeconds": 300,
    }
    # The registered provider is the retention provider, pickled by value without a client.
    provider = dill.loads(base64.b64decode(run.inputs["__provider"]))
    assert isinstance(provider, RetentionProvider)
    assert vars(provider) == {}


def test_retention_settings_reach_the_resource(fake_cloud_run):
    fake_cloud_run.deploy("emergence-app", revision_id="emergence-app-00007-abc")
    fake_cloud_run.deploy("emergence-app")
    ev = evaluate(
        "prod",
        config={
            "revisionsToKeep": 2,
            "retentionDryRun": True,
            "rollbackRevision": "emergence-app-00007-abc",
        },
        secrets=SECRETS,
    )
    run = ev.one(RETENTION_RUN)
    assert run.inputs["revisionsToKeep"] == 2
    assert run.inputs["dryRun"] is True
    assert run.inputs["pinnedRevision"] == "emergence-app-00007-abc"
    assert ev.one(RUN_SERVICE).inputs["traffics"] == [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": "emergence-app-00007-abc",
            "percent": 100,
        }
    ]
    assert ev.of_type(IMAGE), "a new image is still built while pinned"
    # The pre-check asked the Admin API about exactly that revision.
    assert fake_cloud_run.count("GET", "/revisions/emergence-app-00007-abc") == 1


def test_preview_does_not_know_the_trigger_so_up_runs_retention(prod_preview):
    run = prod_preview.one(RETENTION_RUN)
    assert run.inputs["latestRevision"] is UNKNOWN
    assert prod_preview.outputs["revisionRetention"] is UNKNOWN


def test_no_rollback_means_no_admin_api_call(fake_cloud_run):
    evaluate("prod", secrets=SECRETS)
    assert fake_cloud_run.count() == 0


@pytest.mark.parametrize(
    ("seed", "fragment"),
    [
        ("missing", "does not exist in service emergence-app"),
        ("failed", "is not Ready (Ready: CONDITION_FAILED)"),
        ("pending", "is not Ready (Ready: CONDITION_RECONCILING)"),
    ],
)
def test_a_bad_rollback_target_stops_the_program_before_any_resource(
    fake_cloud_run, seed, fragment
):
    target = "emergence-app-00002-bad"
    fake_cloud_run.deploy("emergence-app", revision_id="emergence-app-00001-good")
    if seed != "missing":
        fake_cloud_run.deploy("emergence-app", revision_id=target, state=seed)
    ev, error = attempt("prod", config={"rollbackRevision": target}, secrets=SECRETS)
    assert isinstance(error, RollbackError)
    message = str(error)
    assert f"emergence-cloudrun:rollbackRevision={target}" in message
    assert fragment in message
    assert "nothing was changed" in message
    assert "python -m infra revisions --stack prod" in message
    assert "pulumi config rm --stack prod emergence-cloudrun:rollbackRevision" in message
    assert "Ready revisions: emergence-app-00001-good" in message
    assert ev.custom() == []


def test_an_unreachable_admin_api_stops_the_program_too(monkeypatch):
    monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setattr("infra.google.client.time.sleep", lambda _s: None)
    ev, error = attempt(
        "prod", config={"rollbackRevision": "emergence-app-00001-abc"}, secrets=SECRETS
    )
    assert isinstance(error, RollbackError)
    assert "could not check the revision through the Cloud Run Admin API" in str(error)
    assert ev.custom() == []
