"""Values not known during `pulumi preview`: never a crash, never a false violation.

pulumi-policy wraps properties in a proxy that raises `UnknownValueError` when a validator reads
an unknown value, and turns that into an advisory "can't run policy ... during preview" note.
Any other exception would fail the preview, and a violation built on an unknown value would be
false. These tests put the engine's unknown sentinel at every place in a compliant stack, fuzz
the shapes the validators may meet, and check that known violations still show beside unknowns.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
)

from tests.policy_helpers import (
    RETENTION_TYPE,
    SERVICE_V1,
    SERVICE_V2,
    UNKNOWN,
    Pack,
    Res,
    compliant_stack,
    find,
    leaf_and_branch_paths,
    set_path,
    with_unknown,
)

PRIVATE = {"public-invoker-allowed": {"publicAccessAllowed": False}}
STACK = compliant_stack()
CASES = [
    pytest.param(index, path, id=f"{resource.name}:{path}")
    for index, resource in enumerate(STACK)
    for path in leaf_and_branch_paths(resource.props)
]


@pytest.mark.parametrize(("index", "path"), CASES)
def test_an_unknown_value_anywhere_is_never_a_violation(index, path):
    report = Pack().preview(with_unknown(STACK, index, path))
    assert report.violated == set()
    # Whatever is reported is pulumi-policy's advisory note for a check that waits for `up`.
    assert all(f.is_unknown_note for f in report.findings), report.findings


def test_the_unknown_sweep_reaches_every_judged_property():
    paths = {path for _, path in (c.values for c in CASES)}
    for expected in (
        "template.containers.0.image",
        "template.containers.0.envs.4.valueSource.secretKeyRef.version",
        "template.serviceAccount",
        "traffics.0.percent",
        "revisionsToKeep",
        "cleanupPolicies.1.mostRecentVersions.keepCount",
        "platforms.0",
        "member",
        "role",
    ):
        assert expected in paths


@pytest.mark.parametrize(
    ("type_", "path", "policies"),
    [
        (SERVICE_V2, "template.containers.0.image", {"image-by-digest"}),
        (SERVICE_V2, "template.serviceAccount", {"dedicated-service-account"}),
        (
            SERVICE_V2,
            "template.containers.0.envs.4.valueSource.secretKeyRef.version",
            {"secret-env-from-secret-manager"},
        ),
        (
            SERVICE_V2,
            "template.containers",
            {"image-by-digest", "secret-env-from-secret-manager", "startup-probe"},
        ),
        (SERVICE_V2, "deletionProtection", {"deletion-protection"}),
        (SERVICE_V2, "location", {"region-allowed"}),
        (SERVICE_V2, "traffics", {"single-traffic-target"}),
        (
            RETENTION_TYPE,
            "revisionsToKeep",
            {"revision-retention", "registry-cleanup-keeps-revisions"},
        ),
        ("docker-build:index:Image", "platforms", {"image-linux-amd64"}),
        ("docker-build:index:Image", "platforms.0", {"image-linux-amd64"}),
    ],
)
def test_a_check_that_meets_an_unknown_says_it_waits_for_up(type_, path, policies):
    stack = copy.deepcopy(STACK)
    set_path(find(stack, type_).props, path, UNKNOWN)
    report = Pack().preview(stack)
    assert report.violated == set()
    assert report.unknown_notes == policies


def test_an_unknown_kind_on_a_dynamic_resource_is_not_a_missing_retention():
    stack = copy.deepcopy(STACK)
    retention = find(stack, RETENTION_TYPE)
    retention.type = "pulumi-python:dynamic:Resource"
    retention.props["kind"] = UNKNOWN
    report = Pack().analyze_stack(stack)
    assert report.violated == set()
    assert report.unknown_notes == {"revision-retention", "registry-cleanup-keeps-revisions"}


@pytest.mark.parametrize(
    "sentinel",
    [UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE],
)
def test_every_kind_of_unknown_sentinel_is_treated_alike(sentinel):
    stack = copy.deepcopy(STACK)
    set_path(find(stack, SERVICE_V2).props, "template.scaling.maxInstanceCount", sentinel)
    report = Pack().preview(stack)
    assert report.violated == set()
    assert report.unknown_notes == {"max-instances"}


def test_unknowns_do_not_hide_known_violations():
    stack = copy.deepcopy(STACK)
    service = find(stack, SERVICE_V2).props
    container = service["template"]["containers"][0]
    container["image"] = UNKNOWN
    container["envs"].append({"name": "API_TOKEN", "value": "plain"})
    container["envs"][4]["valueSource"]["secretKeyRef"]["version"] = UNKNOWN
    service["traffics"] = [{"percent": UNKNOWN}, {"percent": 50}]
    report = Pack().preview(stack)
    assert report.violated == {"secret-env-from-secret-manager", "single-traffic-target"}
    assert "image-by-digest" in report.unknown_notes
    assert any("API_TOKEN" in m for m in report.messages("secret-env-from-secret-manager"))


def test_a_plain_value_that_is_unknown_is_still_a_plain_value():
    stack = copy.deepcopy(STACK)
    envs = find(stack, SERVICE_V2).props["template"]["containers"][0]["envs"]
    envs[4] = {"name": "SMTP_PASSWORD", "value": UNKNOWN}
    assert Pack().preview(stack).violated == {"secret-env-from-secret-manager"}


def test_an_unknown_service_in_a_split_stack_keeps_the_known_verdicts():
    stack = copy.deepcopy(STACK)
    stack.append(Res(SERVICE_V2, "second", {"traffics": UNKNOWN, "location": "europe-west1"}))
    report = Pack().analyze_stack(stack)
    assert report.violated == {"single-cloud-run-service"}
    assert report.unknown_notes == {"single-traffic-target"}


def test_unknown_policy_data_and_members_wait_for_up():
    stack = copy.deepcopy(STACK)
    stack.append(
        Res("gcp:projects/iAMPolicy:IAMPolicy", "policy", {"project": "p", "policyData": UNKNOWN})
    )
    stack.append(
        Res(
            "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
            "binding",
            {"role": "roles/run.invoker", "members": ["serviceAccount:x", UNKNOWN]},
        )
    )
    report = Pack(PRIVATE).preview(stack)
    # The compliant stack's allUsers grant is the one known violation under this config.
    assert report.violated == {"public-invoker-allowed"}
    assert {"no-basic-roles", "secret-accessor-per-secret"} <= report.unknown_notes


# --- shapes nobody planned for ------------------------------------------------------------------

KEYS = [
    "template", "spec", "metadata", "annotations", "containers", "image", "envs", "name", "value",
    "valueSource", "valueFrom", "secretKeyRef", "secret", "version", "key", "traffics", "percent",
    "scaling", "maxInstanceCount", "startupProbe", "httpGet", "tcpSocket", "ports",
    "serviceAccount", "serviceAccountName", "location", "region", "kind", "revisionsToKeep",
    "cleanupPolicies", "action", "mostRecentVersions", "keepCount", "cleanupPolicyDryRun", "role",
    "member", "members", "policyData", "build", "platform", "platforms", "invokerIamDisabled",
    "deletionProtection", "autoscaling.knative.dev/maxScale",
]  # fmt: skip
TYPES = [
    SERVICE_V2,
    SERVICE_V1,
    RETENTION_TYPE,
    "gcp:artifactregistry/repository:Repository",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
    "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMPolicy:IAMPolicy",
    "docker:index/image:Image",
    "docker-build:index:Image",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        [
            UNKNOWN,
            UNKNOWN_ARRAY_VALUE,
            UNKNOWN_OBJECT_VALUE,
            "",
            "DELETE",
            "KEEP",
            "latest",
            "allUsers",
            "roles/owner",
            "roles/secretmanager.secretAccessor",
            "emergence:revision-retention",
            "europe-west1",
            "linux/amd64",
            "SMTP_PASSWORD",
            "3",
            json.dumps({"bindings": [{"role": "roles/owner", "members": ["allUsers"]}]}),
            json.dumps({"bindings": "nope"}),
            "{not json",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=25,
)
RESOURCES = st.lists(
    st.tuples(st.sampled_from(TYPES), st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources=RESOURCES, public=st.booleans())
def test_no_shape_of_properties_crashes_a_validator(resources, public):
    stack = [Res(type_, f"r{i}", props) for i, (type_, props) in enumerate(resources)]
    # Any exception other than pulumi-policy's UnknownValueError would escape Analyze here.
    report = Pack({"public-invoker-allowed": {"publicAccessAllowed": public}}).preview(stack)
    for finding in report.findings:
        assert finding.level in {"MANDATORY", "ADVISORY"}
