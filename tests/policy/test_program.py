"""The pack over what the program itself registers for stack prod (infra/mockrun.evaluate).

The program's resources, as the engine would describe them to the pack (inputs for resource
policies, state for stack policies, secrets marked, unknowns as sentinels), pass every policy.
Then one rule at a time is broken on those resources, and the policy meant for it, and only
that one, catches it.

The test may import the program (`infra`); the pack never does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.mockrun import UNKNOWN as MOCK_UNKNOWN
from infra.mockrun import Evaluation, stack_config
from tests.conftest import TEST_SMTP_PASSWORD
from tests.policy_helpers import (
    POLICIES,
    POLICY_DIR,
    RETENTION_TYPE,
    SERVICE_V2,
    UNKNOWN,
    Pack,
    Res,
    find,
    secret,
    set_path,
)

PRIVATE = {"public-invoker-allowed": {"publicAccessAllowed": False}}


def _wire(value: Any) -> Any:
    """A mock-engine value as the Pulumi engine sends it to a policy pack."""
    if value is MOCK_UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _get(props: dict[str, Any], path: str) -> Any:
    node: Any = props
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def program_resources(ev: Evaluation) -> list[Res]:
    """What the program registered, as the engine would describe it to the pack."""
    values, _, _ = stack_config(ev.stack)
    provider = {"project": values["gcp:project"], "region": values["gcp:region"]}
    resources = []
    for r in ev.resources:
        props = _wire(r.inputs)
        for path in r.secret_inputs:
            set_path(props, path, secret(_get(props, path)))
        resources.append(
            Res(
                r.type,
                r.name,
                props,
                stack=ev.stack,
                protect=bool(r.options.get("protect")),
                provider_props=dict(provider) if r.type.startswith("gcp:") else None,
                state=_wire(r.outputs),
                urn=r.urn,
            )
        )
    return resources


def program_stack(ev: Evaluation) -> list[Res]:
    resources = program_resources(ev)
    # The program declares its own revision retention: the pack must find it, not a stand-in.
    assert any(r.type == RETENTION_TYPE for r in resources), "the program has no retention"
    return resources


def test_the_prod_program_passes_every_policy(prod):
    stack = program_stack(prod)
    report = Pack().preview(stack)
    assert report.findings == []
    # Every resource policy met a resource it judges: the pass is not for lack of input.
    types = {r.type for r in stack}
    assert {SERVICE_V2, RETENTION_TYPE, "docker-build:index:Image"} <= types
    assert "gcp:artifactregistry/repository:Repository" in types


def test_the_prod_program_passes_with_the_committed_prod_config(prod):
    config = json.loads((POLICY_DIR / "prod.config.json").read_text())
    assert Pack(config).preview(program_stack(prod)).findings == []


def test_the_program_without_a_retention_is_caught(prod):
    stack = [r for r in program_resources(prod) if r.type != RETENTION_TYPE]
    assert Pack().preview(stack).violated == {"revision-retention"}


def test_a_preview_of_the_program_passes_and_defers_what_only_up_knows(prod_preview):
    report = Pack().preview(program_stack(prod_preview))
    assert report.violated == set()
    # The image digest does not exist before the build: its check waits for `pulumi up`.
    assert "image-by-digest" in report.unknown_notes
    assert all(f.is_unknown_note for f in report.findings)


# --- one rule broken at a time ----------------------------------------------------------------

Mutation = Callable[[list[Res]], None]


PUSHED_IMAGE = "app-image"  # the one image build, pushed (infra/components/image.py)


def _both(resource: Res, path: str, value: Any) -> None:
    """Set `path` in the inputs and in the state, as a changed program would."""
    set_path(resource.props, path, value)
    if resource.state is not None:
        set_path(resource.state, path, copy.deepcopy(value))


def _service(stack: list[Res]) -> Res:
    return find(stack, SERVICE_V2)


def second_service(stack: list[Res]) -> None:
    service = _service(stack)
    stack.append(
        Res(
            service.type,
            "app-service-2",
            copy.deepcopy(service.props),
            provider_props=service.provider_props,
            state=copy.deepcopy(service.state),
        )
    )


def tag_instead_of_digest(stack: list[Res]) -> None:
    [image] = find(stack, "docker-build:index:Image", PUSHED_IMAGE).props["tags"]
    assert ":deploy-" in image
    _both(_service(stack), "template.containers.0.image", image)


def plain_smtp_password(stack: list[Res]) -> None:
    service = _service(stack)
    envs = service.props["template"]["containers"][0]["envs"]
    index = next(i for i, e in enumerate(envs) if e["name"] == "SMTP_PASSWORD")
    plain = {"name": "SMTP_PASSWORD", "value": TEST_SMTP_PASSWORD}
    _both(service, f"template.containers.0.envs.{index}", plain)


def api_key_at_latest(stack: list[Res]) -> None:
    """An existing secret the stack references (appSecretEnv), unpinned."""
    service = _service(stack)
    envs = service.props["template"]["containers"][0]["envs"]
    index = next(i for i, e in enumerate(envs) if e["name"] == "OPENAI_API_KEY")
    ref = {"secret": "OPENAI_API_KEY", "version": "latest"}
    _both(service, f"template.containers.0.envs.{index}.valueSource.secretKeyRef", ref)


def traffic_split_50_50(stack: list[Res]) -> None:
    split = [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 50},
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "r-1", "percent": 50},
    ]
    _both(_service(stack), "traffics", split)


def retention_keeps_5(stack: list[Res]) -> None:
    _both(find(stack, RETENTION_TYPE), "revisionsToKeep", 5)


def default_compute_account(stack: list[Res]) -> None:
    account = "123456789012-compute@developer.gserviceaccount.com"
    _both(_service(stack), "template.serviceAccount", account)


def region_us_central1(stack: list[Res]) -> None:
    _both(_service(stack), "location", "us-central1")


def no_retention(stack: list[Res]) -> None:
    stack.remove(find(stack, RETENTION_TYPE))


def cleanup_keeps_too_few(stack: list[Res]) -> None:
    repo = find(stack, "gcp:artifactregistry/repository:Repository")
    policies = repo.props["cleanupPolicies"]
    index = next(i for i, p in enumerate(policies) if p["action"] == "KEEP")
    _both(repo, f"cleanupPolicies.{index}.mostRecentVersions.keepCount", 2)


def secret_version_latest(stack: list[Res]) -> None:
    service = _service(stack)
    envs = service.props["template"]["containers"][0]["envs"]
    index = next(i for i, e in enumerate(envs) if e["name"] == "SMTP_PASSWORD")
    _both(service, f"template.containers.0.envs.{index}.valueSource.secretKeyRef.version", "latest")


def no_startup_probe(stack: list[Res]) -> None:
    service = _service(stack)
    for props in (service.props, service.state):
        del props["template"]["containers"][0]["startupProbe"]


def deletion_protection_off(stack: list[Res]) -> None:
    _both(_service(stack), "deletionProtection", False)


def no_max_instances(stack: list[Res]) -> None:
    service = _service(stack)
    for props in (service.props, service.state):
        del props["template"]["scaling"]["maxInstanceCount"]


def runtime_account_is_editor(stack: list[Res]) -> None:
    grant = next(r for r in stack if r.type == "gcp:projects/iAMMember:IAMMember")
    _both(grant, "role", "roles/editor")


def project_wide_secret_accessor(stack: list[Res]) -> None:
    grant = next(r for r in stack if r.type == "gcp:projects/iAMMember:IAMMember")
    _both(grant, "role", "roles/secretmanager.secretAccessor")


def public_registry(stack: list[Res]) -> None:
    props = {
        "repository": "app",
        "location": "europe-west1",
        "role": "roles/artifactregistry.reader",
    }
    stack.append(
        Res(
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
            "registry-public",
            {**props, "member": "allUsers"},
            provider_props={"region": "europe-west1"},
        )
    )


def image_for_arm64(stack: list[Res]) -> None:
    _both(find(stack, "docker-build:index:Image", PUSHED_IMAGE), "platforms", ["linux/arm64"])


MUTATIONS: list[tuple[Mutation, str, dict[str, Any] | None]] = [
    # The list.
    (second_service, "single-cloud-run-service", None),
    (tag_instead_of_digest, "image-by-digest", None),
    (plain_smtp_password, "secret-env-from-secret-manager", None),
    (api_key_at_latest, "secret-env-from-secret-manager", None),
    (traffic_split_50_50, "single-traffic-target", None),
    (retention_keeps_5, "revision-retention", None),
    (default_compute_account, "dedicated-service-account", None),
    (region_us_central1, "region-allowed", None),
    # And one for every other policy.
    (no_retention, "revision-retention", None),
    (cleanup_keeps_too_few, "registry-cleanup-keeps-revisions", None),
    (secret_version_latest, "secret-env-from-secret-manager", None),
    (no_startup_probe, "startup-probe", None),
    (deletion_protection_off, "deletion-protection", None),
    (no_max_instances, "max-instances", None),
    (runtime_account_is_editor, "no-basic-roles", None),
    (project_wide_secret_accessor, "secret-accessor-per-secret", None),
    (public_registry, "registry-not-public", None),
    (image_for_arm64, "image-linux-amd64", None),
    (lambda stack: None, "public-invoker-allowed", PRIVATE),
]


MUTATION_IDS = [
    m.__name__ if m.__name__ != "<lambda>" else "public-app-not-allowed" for m, _, _ in MUTATIONS
]
MUTATION_POLICY = {id_: policy for id_, (_, policy, _) in zip(MUTATION_IDS, MUTATIONS, strict=True)}


@pytest.mark.parametrize(("mutate", "policy", "config"), MUTATIONS, ids=MUTATION_IDS)
def test_each_broken_rule_is_caught_by_its_policy_alone(prod, mutate, policy, config):
    stack = program_stack(prod)
    mutate(stack)
    report = Pack(config).preview(stack)
    assert report.violated == {policy}
    assert all(TEST_SMTP_PASSWORD not in f.message for f in report.findings)


def test_every_policy_is_exercised_by_a_mutation_of_the_program():
    assert {policy for _, policy, _ in MUTATIONS} == {p.name for p in POLICIES}
