"""Each policy of the pack: a stack that passes, stacks that violate it, and the edge cases.

Every case runs the whole pack over the whole stack the way the engine does (tests/policy_helpers)
and asserts the exact set of policies violated: the policy meant for the case fires, no other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.policy_helpers import (
    DIGEST,
    REGISTRY_PATH,
    RETENTION_TYPE,
    SERVICE_V1,
    SERVICE_V2,
    UNKNOWN,
    Pack,
    Res,
    compliant_stack,
    drop_path,
    find,
    secret,
    service_props,
    service_v1_props,
    set_path,
)

Mutation = Callable[[list[Res]], None]
REPOSITORY = "gcp:artifactregistry/repository:Repository"
IMAGE = "docker-build:index:Image"


def violated(stack: list[Res], config: dict[str, Any] | None = None) -> set[str]:
    return Pack(config).preview(stack).violated


def service(stack: list[Res]) -> dict[str, Any]:
    return find(stack, SERVICE_V2).props


def container(stack: list[Res], index: int = 0) -> dict[str, Any]:
    return service(stack)["template"]["containers"][index]


def env(stack: list[Res], name: str) -> dict[str, Any]:
    return next(e for e in container(stack)["envs"] if e["name"] == name)


def retention(stack: list[Res]) -> dict[str, Any]:
    return find(stack, RETENTION_TYPE).props


def repository(stack: list[Res]) -> dict[str, Any]:
    return find(stack, REPOSITORY).props


def add(stack: list[Res], type_: str, name: str, props: dict[str, Any]) -> None:
    stack.append(Res(type_, name, props, provider_props={"region": "europe-west1"}))


def check(mutate: Mutation, expected: set[str], config: dict[str, Any] | None = None) -> None:
    stack = compliant_stack()
    mutate(stack)
    assert violated(stack, config) == expected


def test_compliant_stack_has_no_finding_at_all():
    report = Pack().preview(compliant_stack())
    assert report.findings == []


# --- stack policies -------------------------------------------------------------------------------


def _second_service(stack: list[Res]) -> None:
    stack.append(Res(SERVICE_V2, "emergence-app-canary", service_props()))


def _v1_beside_v2(stack: list[Res]) -> None:
    stack.append(Res(SERVICE_V1, "emergence-app-v1", service_v1_props(), protect=True))


def _no_service(stack: list[Res]) -> None:
    stack.remove(find(stack, SERVICE_V2))


@pytest.mark.parametrize("mutate", [_second_service, _v1_beside_v2, _no_service])
def test_single_cloud_run_service_violations(mutate):
    check(mutate, {"single-cloud-run-service"})


def test_single_cloud_run_service_names_every_service():
    stack = compliant_stack()
    _second_service(stack)
    report = Pack().analyze_stack(stack)
    findings = [f for f in report.findings if f.policy == "single-cloud-run-service"]
    assert {f.urn for f in findings} == {r.urn for r in stack if r.type == SERVICE_V2}
    assert all("emergence-app-canary, emergence-app-service" in f.message for f in findings)


def test_single_cloud_run_service_accepts_one_v1_service():
    stack = compliant_stack()
    stack.remove(find(stack, SERVICE_V2))
    stack.append(Res(SERVICE_V1, "emergence-app-v1", service_v1_props(), protect=True))
    assert violated(stack) == set()


LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
PINNED = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"


@pytest.mark.parametrize(
    "traffics",
    [
        [{"type": LATEST, "percent": 50}, {"type": PINNED, "revision": "r-1", "percent": 50}],
        [{"type": LATEST, "percent": 100}, {"type": PINNED, "revision": "r-1", "tag": "canary"}],
        [{"type": LATEST, "percent": 90}],
        [{"type": LATEST}],
    ],
    ids=["split-50-50", "tagged-second-target", "single-at-90", "single-without-percent"],
)
def test_single_traffic_target_violations(traffics):
    check(lambda s: service(s).update(traffics=traffics), {"single-traffic-target"})


@pytest.mark.parametrize(
    "traffics",
    [
        [{"type": PINNED, "revision": "emergence-app-00042-abc", "percent": 100}],
        None,
    ],
    ids=["rollback-pin-at-100", "no-traffics-declared"],
)
def test_single_traffic_target_passes(traffics):
    def mutate(stack):
        if traffics is None:
            del service(stack)["traffics"]
        else:
            service(stack)["traffics"] = traffics

    check(mutate, set())


def test_single_traffic_target_judges_v1_services():
    stack = compliant_stack()
    stack.remove(find(stack, SERVICE_V2))
    props = service_v1_props()
    props["traffics"] = [
        {"latestRevision": True, "percent": 60},
        {"revisionName": "r", "percent": 40},
    ]
    stack.append(Res(SERVICE_V1, "emergence-app-v1", props, protect=True))
    assert violated(stack) == {"single-traffic-target"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "keeps 5 revisions; keep from 1 to 3"),
        (0, "keeps 0 revisions"),
        (2.5, "revisionsToKeep=2.5"),
        ("3", "revisionsToKeep='3'"),
        (None, "revisionsToKeep=None"),
    ],
)
def test_revision_retention_out_of_range(value, message):
    stack = compliant_stack()
    retention(stack)["revisionsToKeep"] = value
    repository(stack)["cleanupPolicies"][1]["mostRecentVersions"]["keepCount"] = 10
    report = Pack().preview(stack)
    assert report.violated == {"revision-retention"}
    assert any(message in m for m in report.messages("revision-retention"))


GENERIC_DYNAMIC = "pulumi-python:dynamic:Resource"


def _retype(stack: list[Res], type_: str, **props: Any) -> None:
    resource = find(stack, RETENTION_TYPE)
    resource.type = type_
    resource.props.update(props)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.remove(find(s, RETENTION_TYPE)),
        lambda s: _retype(s, GENERIC_DYNAMIC),
        lambda s: _retype(s, GENERIC_DYNAMIC, kind="something-else"),
        # Only a dynamic resource is the retention: a component with the marker is not.
        lambda s: _retype(s, "emergence:retention:Retention", kind="emergence:revision-retention"),
    ],
    ids=["removed", "unmarked-dynamic", "other-kind", "marked-component"],
)
def test_revision_retention_missing(mutate):
    stack = compliant_stack()
    mutate(stack)
    report = Pack().preview(stack)
    assert report.violated == {"revision-retention"}
    assert any("no revision retention" in m for m in report.messages("revision-retention"))


@pytest.mark.parametrize("type_", [GENERIC_DYNAMIC, "pulumi-nodejs:dynamic:Resource"])
def test_revision_retention_recognised_by_its_kind(type_):
    check(lambda s: _retype(s, type_, kind="emergence:revision-retention"), set())
    check(
        lambda s: _retype(s, type_, kind="emergence:revision-retention", revisionsToKeep=4),
        {"revision-retention", "registry-cleanup-keeps-revisions"},
    )


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_revision_retention_in_range(kept):
    check(lambda s: retention(s).update(revisionsToKeep=kept), set())


def test_revision_retention_limit_comes_from_config():
    def keep(n):
        def mutate(stack):
            retention(stack)["revisionsToKeep"] = n
            repository(stack)["cleanupPolicies"][1]["mostRecentVersions"]["keepCount"] = 5

        return mutate

    check(keep(5), set(), {"revision-retention": {"maxRevisions": 5}})
    check(keep(3), {"revision-retention"}, {"revision-retention": {"maxRevisions": 2}})


def _keep(count: int | None) -> Mutation:
    def mutate(stack):
        policies = repository(stack)["cleanupPolicies"]
        if count is None:
            del policies[1]
        else:
            policies[1]["mostRecentVersions"]["keepCount"] = count

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _keep(2),
        _keep(None),
        lambda s: repository(s)["cleanupPolicies"].__setitem__(
            1, {"id": "keep-tagged", "action": "KEEP", "condition": {"tagState": "TAGGED"}}
        ),
        lambda s: retention(s).update(revisionsToKeep=2) or _keep(1)(s),
    ],
    ids=["keeps-2-of-3", "no-keep-policy", "keep-by-condition-only", "keeps-1-of-2"],
)
def test_registry_cleanup_violations(mutate):
    stack = compliant_stack()
    mutate(stack)
    report = Pack().preview(stack)
    assert report.violated == {"registry-cleanup-keeps-revisions"}
    assert any("keepCount >= " in m for m in report.messages("registry-cleanup-keeps-revisions"))


def _keep_only_one(stack: list[Res]) -> None:
    """No DELETE policy: nothing is deleted, whatever the KEEP count."""
    _keep(1)(stack)
    del repository(stack)["cleanupPolicies"][0]


@pytest.mark.parametrize(
    "mutate",
    [
        _keep(10),
        lambda s: repository(s).__setitem__("cleanupPolicies", []),
        lambda s: repository(s).pop("cleanupPolicies"),
        lambda s: _keep(1)(s) or repository(s).update(cleanupPolicyDryRun=True),
        _keep_only_one,
    ],
    ids=["keeps-10", "no-policies", "policies-absent", "dry-run", "nothing-deletes"],
)
def test_registry_cleanup_passes(mutate):
    check(mutate, set())


def test_registry_cleanup_leaves_a_missing_retention_to_its_policy():
    check(lambda s: s.remove(find(s, RETENTION_TYPE)) or _keep(1)(s), {"revision-retention"})


# --- resource policies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        f"{REGISTRY_PATH}:deploy-20250101T000000-abc1234",
        f"{REGISTRY_PATH}:latest",
        f"{REGISTRY_PATH}@sha256:abc123",
        REGISTRY_PATH,
        None,
    ],
    ids=["deploy-tag", "latest", "short-digest", "no-tag", "no-image"],
)
def test_image_by_digest_violations(image):
    def mutate(stack):
        if image is None:
            del container(stack)["image"]
        else:
            container(stack)["image"] = image

    check(mutate, {"image-by-digest"})


def test_image_by_digest_judges_every_container():
    sidecar = {"image": "otel/collector:0.1", "name": "collector"}
    check(lambda s: service(s)["template"]["containers"].append(sidecar), {"image-by-digest"})


def test_image_by_digest_passes_with_a_digest_even_with_a_tag():
    check(lambda s: container(s).update(image=f"{REGISTRY_PATH}:deploy-x@{DIGEST}"), set())


@pytest.mark.parametrize(
    ("type_", "path", "value"),
    [
        (SERVICE_V2, "location", "us-central1"),
        (REPOSITORY, "location", "europe"),
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "location", "us-east1"),
    ],
)
def test_region_allowed_violations(type_, path, value):
    check(lambda s: set_path(find(s, type_).props, path, value), {"region-allowed"})


def test_region_allowed_uses_the_provider_region_when_location_is_unset():
    def mutate(stack):
        repo = find(stack, REPOSITORY)
        del repo.props["location"]
        repo.provider_props = {"region": "us-central1"}

    check(mutate, {"region-allowed"})
    check(lambda s: repository(s).pop("location"), set())


def test_region_allowed_comes_from_config():
    config = {"region-allowed": {"allowedRegions": ["europe-west1", "us-central1"]}}
    check(lambda s: service(s).update(location="us-central1"), set(), config)
    report = Pack({"region-allowed": {"allowedRegions": ["europe-west4"]}}).preview(
        compliant_stack()
    )
    assert report.violated == {"region-allowed"}
    assert all("europe-west4" in m for m in report.messages("region-allowed"))


def test_region_allowed_ignores_global_and_non_gcp_resources():
    check(lambda s: repository(s).update(location="global"), set())
    check(lambda s: retention(s).update(location="us-central1"), set())


@pytest.mark.parametrize(
    "account",
    [
        "123456789012-compute@developer.gserviceaccount.com",
        "emergence-469005@appspot.gserviceaccount.com",
        None,
        "",
    ],
    ids=["default-compute", "app-engine-default", "unset", "empty"],
)
def test_dedicated_service_account_violations(account):
    def mutate(stack):
        if account is None:
            del service(stack)["template"]["serviceAccount"]
        else:
            service(stack)["template"]["serviceAccount"] = account

    check(mutate, {"dedicated-service-account"})


def _secret_env(stack: list[Res], **fields: Any) -> None:
    envs = container(stack)["envs"]
    envs[-1] = {"name": "SMTP_PASSWORD", **fields}


def _ref(version: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"secret": "smtp-password"}
    if version is not None:
        ref["version"] = version
    return {"secretKeyRef": ref}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: _secret_env(s, value="hunter2"), "carries a plain value"),
        (lambda s: _secret_env(s, value=secret("hunter2")), "carries a plain value"),
        (lambda s: _secret_env(s, value=""), "carries a plain value"),
        (lambda s: _secret_env(s, valueSource=_ref("latest")), "not pinned"),
        (lambda s: _secret_env(s, valueSource=_ref(None)), "not pinned"),
        (
            lambda s: _secret_env(
                s, valueSource=_ref("projects/p/secrets/smtp-password/versions/latest")
            ),
            "not pinned",
        ),
        (lambda s: _secret_env(s, valueSource={"secretKeyRef": {}}), "not read from Secret"),
        (_secret_env, "not read from Secret Manager"),
        (
            lambda s: container(s)["envs"].append({"name": "api_token", "value": "t0k3n"}),
            "api_token",
        ),
        (
            lambda s: container(s)["envs"].append({"name": "JWT_SECRET", "value": "s"}),
            "JWT_SECRET",
        ),
        (
            lambda s: container(s)["envs"].append({"name": "STRIPE_KEY", "value": "k"}),
            "STRIPE_KEY",
        ),
    ],
)
def test_secret_env_violations(mutate, message):
    stack = compliant_stack()
    mutate(stack)
    report = Pack().preview(stack)
    assert report.violated == {"secret-env-from-secret-manager"}
    assert any(message in m for m in report.messages("secret-env-from-secret-manager"))
    assert all("hunter2" not in m for m in report.messages("secret-env-from-secret-manager"))


@pytest.mark.parametrize(
    "version", [7, "12", "projects/emergence-469005/secrets/smtp-password/versions/3"]
)
def test_secret_env_accepts_pinned_versions(version):
    check(lambda s: _secret_env(s, valueSource=_ref(version)), set())


def _api_key_ref(stack: list[Res], name: str, version: Any) -> None:
    """An env var reading an existing secret (appSecretEnv), under any name."""
    ref: dict[str, Any] = {"secret": name}
    if version is not None:
        ref["version"] = version
    container(stack)["envs"].append({"name": name, "valueSource": {"secretKeyRef": ref}})


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "DATABASE_URL", "GOOGLE_ALLOWED_EMAILS"])
@pytest.mark.parametrize(
    "version", ["latest", None, "", "0", 0, -3, "five", "5a", "projects/p/secrets/x/versions/"]
)
def test_every_secret_reference_is_pinned_whatever_its_name(name, version):
    stack = compliant_stack()
    _api_key_ref(stack, name, version)
    report = Pack().preview(stack)
    assert report.violated == {"secret-env-from-secret-manager"}
    assert any(
        f"Env var {name} (container 0) is not pinned to a secret version number" in m
        for m in report.messages("secret-env-from-secret-manager")
    )


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "DATABASE_URL"])
@pytest.mark.parametrize("version", ["5", 5, 5.0, "projects/emergence-469005/secrets/X/versions/5"])
def test_a_pinned_reference_passes_whatever_its_name(name, version):
    check(lambda s: _api_key_ref(s, name, version), set())


def test_a_reference_that_names_no_secret_is_refused_whatever_its_name():
    stack = compliant_stack()
    container(stack)["envs"].append(
        {"name": "DATABASE_URL", "valueSource": {"secretKeyRef": {"version": "3"}}}
    )
    report = Pack().preview(stack)
    assert report.violated == {"secret-env-from-secret-manager"}
    assert "names no secret" in " ".join(report.messages("secret-env-from-secret-manager"))


def test_an_unknown_version_waits_for_up_and_hides_no_known_violation():
    stack = compliant_stack()
    _api_key_ref(stack, "OPENAI_API_KEY", UNKNOWN)
    report = Pack().preview(stack)
    assert report.violated == set()
    assert report.unknown_notes == {"secret-env-from-secret-manager"}
    _api_key_ref(stack, "ANTHROPIC_API_KEY", "latest")
    report = Pack().preview(stack)
    assert report.violated == {"secret-env-from-secret-manager"}
    assert any("ANTHROPIC_API_KEY" in m for m in report.messages("secret-env-from-secret-manager"))


def test_a_plain_value_under_a_plain_name_is_not_this_policys_business():
    check(lambda s: container(s)["envs"].append({"name": "PYTHONPATH", "value": "/app/src"}), set())


def test_secret_env_judges_v1_services():
    stack = compliant_stack()
    stack.remove(find(stack, SERVICE_V2))
    props = service_v1_props()
    ref = props["template"]["spec"]["containers"][0]["envs"][1]["valueFrom"]["secretKeyRef"]
    ref["key"] = "latest"
    stack.append(Res(SERVICE_V1, "emergence-app-v1", props, protect=True))
    assert violated(stack) == {"secret-env-from-secret-manager"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: container(s).pop("startupProbe"),
        lambda s: container(s).update(startupProbe={}),
        lambda s: container(s).update(startupProbe={"periodSeconds": 10}),
        # The sidecar has a probe, the serving container (with ports) has none.
        lambda s: (
            container(s).pop("startupProbe")
            and service(s)["template"]["containers"].append(
                {"image": f"{REGISTRY_PATH}@{DIGEST}", "startupProbe": {"tcpSocket": {"port": 9}}}
            )
        ),
    ],
    ids=["absent", "empty", "no-check", "only-on-sidecar"],
)
def test_startup_probe_violations(mutate):
    check(mutate, {"startup-probe"})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: container(s).update(startupProbe={"tcpSocket": {"port": 8080}}),
        lambda s: container(s).update(startupProbe={"grpc": {"port": 8080}}),
        lambda s: service(s)["template"]["containers"].append(
            {"image": f"{REGISTRY_PATH}@{DIGEST}", "name": "sidecar"}
        ),
        lambda s: container(s).pop("ports"),
    ],
    ids=["tcp", "grpc", "sidecar-without-probe", "single-container-without-ports"],
)
def test_startup_probe_passes(mutate):
    check(mutate, set())


@pytest.mark.parametrize("value", [False, None])
def test_deletion_protection_violations_in_prod(value):
    def mutate(stack):
        if value is None:
            del service(stack)["deletionProtection"]
        else:
            service(stack)["deletionProtection"] = value

    check(mutate, {"deletion-protection"})


def test_deletion_protection_only_in_protected_stacks():
    dev = compliant_stack(stack="dev")
    service(dev)["deletionProtection"] = False
    assert violated(dev) == set()
    config = {"deletion-protection": {"protectedStacks": ["staging"]}}
    prod = compliant_stack()
    service(prod)["deletionProtection"] = False
    assert violated(prod, config) == set()
    staging = compliant_stack(stack="staging")
    service(staging)["deletionProtection"] = False
    assert violated(staging, config) == {"deletion-protection"}


def test_deletion_protection_of_a_v1_service_is_the_protect_option():
    stack = compliant_stack()
    stack.remove(find(stack, SERVICE_V2))
    stack.append(Res(SERVICE_V1, "emergence-app-v1", service_v1_props(), protect=False))
    assert violated(stack) == {"deletion-protection"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: drop_path(service(s), "template.scaling.maxInstanceCount"),
        lambda s: service(s)["template"].pop("scaling"),
        lambda s: set_path(service(s), "template.scaling.maxInstanceCount", 0),
    ],
    ids=["unset", "no-scaling", "zero"],
)
def test_max_instances_violations(mutate):
    check(mutate, {"max-instances"})


def test_max_instances_accepts_the_service_level_limit():
    def mutate(stack):
        service(stack)["template"].pop("scaling")
        service(stack)["scaling"] = {"maxInstanceCount": 5}

    check(mutate, set())


def test_max_instances_judges_v1_annotations():
    stack = compliant_stack()
    stack.remove(find(stack, SERVICE_V2))
    props = service_v1_props()
    props["template"]["metadata"]["annotations"] = {}
    stack.append(Res(SERVICE_V1, "emergence-app-v1", props, protect=True))
    assert violated(stack) == {"max-instances"}


def _policy_data(role: str, members: list[str]) -> str:
    return json.dumps({"bindings": [{"role": role, "members": members}]})


SA_MEMBER = "serviceAccount:ci@emergence-469005.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/editor", "member": SA_MEMBER}),
        ("gcp:projects/iAMBinding:IAMBinding", {"role": "roles/owner", "members": [SA_MEMBER]}),
        (
            "gcp:secretmanager/secretIamMember:SecretIamMember",
            {"secretId": "s", "role": "roles/viewer", "member": SA_MEMBER},
        ),
        (
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"project": "p", "policyData": _policy_data("roles/owner", [SA_MEMBER])},
        ),
    ],
    ids=["project-member-editor", "project-binding-owner", "secret-viewer", "policy-owner"],
)
def test_no_basic_roles_violations(type_, props):
    check(lambda s: add(s, type_, "extra-grant", props), {"no-basic-roles"})


def test_no_basic_roles_ignores_a_removal():
    props = {"project": "p", "role": "roles/editor", "member": SA_MEMBER}
    check(lambda s: add(s, "gcp:projects/iamMemberRemove:IamMemberRemove", "rm", props), set())


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (
            "gcp:projects/iAMMember:IAMMember",
            {"role": "roles/secretmanager.secretAccessor", "member": SA_MEMBER},
        ),
        (
            "gcp:organizations/iAMBinding:IAMBinding",
            {"role": "roles/secretmanager.secretAccessor", "members": [SA_MEMBER]},
        ),
        (
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"policyData": _policy_data("roles/secretmanager.secretAccessor", [SA_MEMBER])},
        ),
    ],
    ids=["project-member", "organization-binding", "project-policy"],
)
def test_secret_accessor_per_secret_violations(type_, props):
    check(lambda s: add(s, type_, "extra-grant", props), {"secret-accessor-per-secret"})


REPO_IAM = "gcp:artifactregistry/repositoryIam"


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (f"{REPO_IAM}Member:RepositoryIamMember", {"role": "r", "member": "allUsers"}),
        (
            f"{REPO_IAM}Binding:RepositoryIamBinding",
            {"role": "r", "members": [SA_MEMBER, "allAuthenticatedUsers"]},
        ),
        (
            f"{REPO_IAM}Policy:RepositoryIamPolicy",
            {"policyData": _policy_data("roles/artifactregistry.reader", ["allUsers"])},
        ),
    ],
    ids=["member", "binding", "policy"],
)
def test_registry_not_public_violations(type_, props):
    props = {"repository": "app", "location": "europe-west1", **props}
    check(lambda s: add(s, type_, "public-registry", props), {"registry-not-public"})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: set_path(find(s, IMAGE).props, "platforms", ["linux/arm64"]),
        lambda s: drop_path(find(s, IMAGE).props, "platforms"),
        lambda s: s.append(
            Res("docker:index/image:Image", "classic", {"build": {"platform": "linux/arm64"}})
        ),
    ],
    ids=["arm64", "unset", "pulumi-docker-arm64"],
)
def test_image_linux_amd64_violations(mutate):
    check(mutate, {"image-linux-amd64"})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.append(Res("docker:index/image:Image", "pushed-only", {"imageName": "r/i:1"})),
        lambda s: set_path(find(s, IMAGE).props, "platforms", ["linux/amd64", "linux/arm64"]),
    ],
    ids=["pulumi-docker-pushed-not-built", "docker-build-multi-arch"],
)
def test_image_linux_amd64_passes(mutate):
    check(mutate, set())


PRIVATE = {"public-invoker-allowed": {"publicAccessAllowed": False}}
SERVICE_IAM = "gcp:cloudrunv2/serviceIam"


def _private(stack: list[Res]) -> None:
    stack.remove(find(stack, f"{SERVICE_IAM}Member:ServiceIamMember"))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: None,  # the compliant stack grants allUsers run.invoker
        lambda s: _private(s) or service(s).update(invokerIamDisabled=True),
        lambda s: (
            _private(s)
            or add(
                s,
                f"{SERVICE_IAM}Binding:ServiceIamBinding",
                "b",
                {"role": "roles/run.invoker", "members": ["allAuthenticatedUsers"]},
            )
        ),
        lambda s: (
            _private(s)
            or add(
                s,
                f"{SERVICE_IAM}Policy:ServiceIamPolicy",
                "p",
                {"policyData": _policy_data("roles/run.invoker", ["allUsers"])},
            )
        ),
        lambda s: (
            _private(s)
            or add(
                s,
                "gcp:cloudrun/iamMember:IamMember",
                "v1",
                {"role": "roles/run.invoker", "member": "allUsers"},
            )
        ),
    ],
    ids=["all-users-member", "invoker-iam-disabled", "binding", "policy", "v1-member"],
)
def test_public_invoker_refused_when_not_allowed(mutate):
    check(mutate, {"public-invoker-allowed"}, PRIVATE)


def test_public_invoker_allowed_by_config():
    # The default config says the app is public: the compliant stack's allUsers grant passes,
    # and so does invokerIamDisabled.
    check(lambda s: service(s).update(invokerIamDisabled=True), set())
    check(_private, set(), PRIVATE)
    grant = {"role": "roles/run.invoker", "member": SA_MEMBER}
    check(
        lambda s: _private(s) or add(s, f"{SERVICE_IAM}Member:ServiceIamMember", "m", grant),
        set(),
        PRIVATE,
    )
