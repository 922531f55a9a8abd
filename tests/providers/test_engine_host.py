"""The dynamic providers as the engine runs them: `python -m pulumi.dynamic`, started in the project
directory (as pulumi-resource-pulumi-python does), spoken to over gRPC with the pickled provider
in `__provider`, against the fake Cloud Run Admin API and a contract app on 127.0.0.1.

It also pins the migration of the `infra/` layout change: a state written before it holds the
providers pickled under their old module paths, and the engine must still load them to diff,
update or delete those resources.
"""

from __future__ import annotations

import base64
import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import dill
import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.providers.deployment_check import DeploymentCheckProvider
from infra.providers.retention import RetentionProvider
from tests.conftest import PROJECT_ROOT
from tests.fakes.cloud_run import PROJECT
from tests.providers.test_deployment_check import props as check_props
from tests.providers.test_retention import props as retention_props
from tests.verify_helpers import ContractApp, json_response, serve

# `serialize_provider(...)` of each provider at the commit before the layout change (644e0ff),
# when they lived in infra/deployment_check.py and infra/retention.py: what such states hold.
LEGACY_BLOBS = {
    "infra.deployment_check.DeploymentCheckProvider": (
        "gASVOQAAAAAAAACMFmluZnJhLmRlcGxveW1lbnRfY2hlY2uUjBdEZXBsb3ltZW50Q2hlY2tQcm92aWRlcpSTlC"
        "mBlC4="
    ),
    "infra.retention.RetentionProvider": (
        "gASVLAAAAAAAAACMD2luZnJhLnJldGVudGlvbpSMEVJldGVudGlvblByb3ZpZGVylJOUKYGULg=="
    ),
}
RETENTION_URN = (
    "urn:pulumi:prod::emergence-cloudrun::emergence:retention:Retention$"
    "pulumi-python:dynamic/retention:RevisionRetention::retention-revisions"
)
CHECK_URN = (
    "urn:pulumi:prod::emergence-cloudrun::emergence:verification:Verification$"
    "pulumi-python:dynamic/verification:DeploymentCheck::verify-check"
)


def struct(values: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def as_dict(message: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(message)


@contextmanager
def provider_host() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The provider host, started like the engine starts it: in the project directory, with no
    PYTHONPATH, printing its port on stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=60), "the provider host printed no port within 60 s"
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_new_state_names_the_providers_folder():
    for provider in (DeploymentCheckProvider(), RetentionProvider()):
        blob = base64.b64decode(serialize_provider(provider))
        assert f"{type(provider).__module__}".encode() in blob
        assert type(dill.loads(blob)).__module__.startswith("infra.providers.")


@pytest.mark.parametrize("path", sorted(LEGACY_BLOBS))
def test_a_state_pickled_before_the_layout_change_loads_the_moved_provider(path):
    blob = base64.b64decode(LEGACY_BLOBS[path])
    module, name = path.rsplit(".", 1)
    assert module.encode() in blob and b"infra.providers" not in blob
    wanted = {
        "DeploymentCheckProvider": DeploymentCheckProvider,
        "RetentionProvider": RetentionProvider,
    }
    assert type(dill.loads(blob)) is wanted[name]


def test_retention_runs_in_the_engines_host_and_old_state_still_diffs_and_deletes(fake_cloud_run):
    fake_cloud_run.deploy_many("emergence-app", ["ready"] * 5)
    ids = fake_cloud_run.revision_ids("emergence-app")
    new_blob = serialize_provider(RetentionProvider())
    legacy = LEGACY_BLOBS["infra.retention.RetentionProvider"]
    inputs = {**retention_props(fake_cloud_run), "__provider": new_blob}
    with provider_host() as host:
        checked = host.Check(
            provider_pb2.CheckRequest(urn=RETENTION_URN, olds=struct({}), news=struct(inputs))
        )
        assert list(checked.failures) == []
        created = host.Create(
            provider_pb2.CreateRequest(urn=RETENTION_URN, properties=checked.inputs)
        )
        outs = as_dict(created.properties)
        assert created.id == f"{PROJECT}/europe-west1/emergence-app"
        assert outs["summary"] == "kept 3, deleted 2 (revisionsToKeep=3)"
        assert fake_cloud_run.revision_ids("emergence-app") == ids[:3]
        assert outs["__provider"] == new_blob

        # A state from before the move: its outputs name infra.retention.RetentionProvider.
        old_outs = {**outs, "__provider": legacy}
        same = host.Diff(
            provider_pb2.DiffRequest(
                id=created.id,
                urn=RETENTION_URN,
                olds=struct(old_outs),
                news=struct({**inputs, "__provider": legacy}),
            )
        )
        assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
        moved = host.Diff(
            provider_pb2.DiffRequest(
                id=created.id,
                urn=RETENTION_URN,
                olds=struct(old_outs),
                news=struct({**inputs, "revisionsToKeep": 2.0}),
            )
        )
        assert moved.changes == provider_pb2.DiffResponse.DIFF_SOME
        updated = host.Update(
            provider_pb2.UpdateRequest(
                id=created.id,
                urn=RETENTION_URN,
                olds=struct(old_outs),
                news=struct({**inputs, "revisionsToKeep": 2.0}),
            )
        )
        assert as_dict(updated.properties)["__provider"] == new_blob  # the new path is stored
        assert fake_cloud_run.revision_ids("emergence-app") == ids[:2]
        host.Delete(
            provider_pb2.DeleteRequest(
                id=created.id, urn=RETENTION_URN, properties=struct(old_outs)
            )
        )
    assert fake_cloud_run.revision_ids("emergence-app") == ids[:2]  # deleting it deletes none


def test_the_gate_runs_in_the_engines_host_and_old_state_still_deletes():
    new_blob = serialize_provider(DeploymentCheckProvider())
    legacy = LEGACY_BLOBS["infra.deployment_check.DeploymentCheckProvider"]
    with serve(ContractApp()) as url, provider_host() as host:
        inputs = struct({**check_props(url), "__provider": new_blob})
        created = host.Create(provider_pb2.CreateRequest(urn=CHECK_URN, properties=inputs))
        outs = as_dict(created.properties)
        assert outs["passed"] is True, outs.get("summary")
        assert outs["summary"] == "5 of 5 checks passed on emergence-app-00005-abc"
        host.Delete(
            provider_pb2.DeleteRequest(
                id=created.id, urn=CHECK_URN, properties=struct({**outs, "__provider": legacy})
            )
        )


def test_a_failing_gate_fails_the_engines_create_with_its_report():
    app = ContractApp({"/api/health": lambda _r: json_response({"status": "degraded"})})
    with serve(app) as url, provider_host() as host:
        inputs = struct(
            {**check_props(url), "__provider": serialize_provider(DeploymentCheckProvider())}
        )
        with pytest.raises(grpc.RpcError) as failed:
            host.Create(provider_pb2.CreateRequest(urn=CHECK_URN, properties=inputs))
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    assert "status is 'degraded', want 'healthy'" in failed.value.details()
