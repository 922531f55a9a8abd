"""adoptExisting: the hand-made production is imported with the ids pulumi-gcp documents, and
adopted resources are declared exactly like created ones (so the first `up` replaces nothing)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pulumi_gcp as gcp
import pytest

from infra.components.service import AppServiceArgs, _check_import_ids
from infra.config import load_stack_settings
from infra.mockrun import evaluate
from infra.rules import adoption
from tests.conftest import TEST_SMTP_PASSWORD

SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}
ADOPT = {"adoptExisting": True}

DOCUMENTED = {
    adoption.SERVICE_TYPE: gcp.cloudrunv2.Service,
    adoption.SECRET_TYPE: gcp.secretmanager.Secret,
    adoption.REPOSITORY_TYPE: gcp.artifactregistry.Repository,
    adoption.INVOKER_TYPE: gcp.cloudrunv2.ServiceIamMember,
}


@pytest.fixture(scope="module")
def adopted():
    return evaluate("prod", config=ADOPT, secrets=SECRETS)


def import_section(cls: type) -> str:
    """The "## Import" section of a resource's docs, as shipped in the installed pulumi-gcp."""
    source = Path(inspect.getsourcefile(cls)).read_text(encoding="utf-8")
    start = source.index("## Import")
    return source[start : source.index(":param str resource_name", start)]


def documented_formats(cls: type) -> list[str]:
    """The accepted import id formats, in the order the docs list them."""
    return re.findall(r"^\s*\* `?([^`\s]+)`?\s*$", import_section(cls), re.MULTILINE)


def as_regex(template: str) -> re.Pattern[str]:
    """`projects/{{project}}/secrets/{{secret_id}}` -> a pattern with one group per field."""
    parts = re.split(r"\{\{(\w+)\}\}", template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/\\s]+)" for i, part in enumerate(parts)
    )
    return re.compile(pattern)


# --- the ids, against pulumi-gcp's documentation ------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "fields"),
    [
        (adoption.SERVICE_TYPE, {"project": "project", "location": "location", "name": "name"}),
        (adoption.SECRET_TYPE, {"project": "project", "secret_id": "secretId"}),
        (
            adoption.REPOSITORY_TYPE,
            {"project": "project", "location": "location", "repository_id": "repositoryId"},
        ),
    ],
    ids=["service", "secret", "repository"],
)
def test_import_id_has_the_documented_full_format_and_names_the_declared_resource(
    adopted, type_, fields
):
    formats = documented_formats(DOCUMENTED[type_])
    assert formats, f"no Import section found for {type_}"
    full = formats[0]  # the fully qualified form comes first in every resource's docs
    assert full.startswith("projects/{{project}}/")
    resource = adopted.one(type_)
    match = as_regex(full).fullmatch(resource.import_id)
    assert match, f"{resource.import_id!r} does not have the documented form {full!r}"
    for placeholder, input_name in fields.items():
        assert match.group(placeholder) == resource.inputs[input_name]


def test_invoker_import_id_is_the_documented_space_separated_iam_member_form(adopted):
    section = import_section(DOCUMENTED[adoption.INVOKER_TYPE])
    assert "IAM member imports use space-delimited identifiers" in section
    example = re.search(r'import google_cloud_run_v2_service_iam_member\.\w+ "([^"]+)"', section)
    resource_form, role_example, member_example = example.group(1).split(" ")
    assert role_example.startswith("roles/") and ":" in member_example
    assert resource_form.startswith("projects/{{project}}/locations/{{location}}/services/")
    invoker = adopted.one(adoption.INVOKER_TYPE)
    path, role, member = invoker.import_id.split(" ")
    service = adopted.one(adoption.SERVICE_TYPE)
    assert as_regex(resource_form).fullmatch(path)
    assert path == service.import_id  # the same service, in the same documented form
    assert (role, member) == (invoker.inputs["role"], invoker.inputs["member"])
    assert (role, member) == ("roles/run.invoker", "allUsers")


def test_ids_are_the_production_ones(adopted):
    ids = {r.type: r.import_id for r in adopted.resources if r.import_id}
    assert ids == {
        adoption.SERVICE_TYPE: "projects/emergence-469005/locations/europe-west1/services/"
        "emergence-app",
        adoption.INVOKER_TYPE: "projects/emergence-469005/locations/europe-west1/services/"
        "emergence-app roles/run.invoker allUsers",
        adoption.SECRET_TYPE: "projects/emergence-469005/secrets/SMTP_PASSWORD",
        adoption.REPOSITORY_TYPE: "projects/emergence-469005/locations/europe-west1/"
        "repositories/app",
    }


# --- adopted resources are declared like created ones -------------------------------------------


def test_adopting_changes_nothing_but_the_import_ids(prod, adopted):
    declared = {r.urn: r for r in prod.resources}
    imported = {r.urn: r for r in adopted.resources}
    assert set(imported) == set(declared), "same resources, same names: no rename on adoption"
    for urn, r in imported.items():
        assert r.inputs == declared[urn].inputs, f"{r.name}: inputs differ when adopted"
        assert r.options == declared[urn].options, f"{r.name}: options differ when adopted"
        assert r.dependencies == declared[urn].dependencies
        assert declared[urn].import_id is None
    assert {r.type for r in adopted.resources if r.import_id} == set(DOCUMENTED)
    assert adopted.outputs == prod.outputs


def test_replacement_forcing_fields_match_the_hand_made_resources(adopted):
    service = adopted.one(adoption.SERVICE_TYPE).inputs
    assert (service["name"], service["location"], service["project"]) == (
        "emergence-app",
        "europe-west1",
        "emergence-469005",
    )
    assert service["deletionProtection"] is True  # what an imported service gets in state
    secret = adopted.one(adoption.SECRET_TYPE).inputs
    assert secret["secretId"] == "SMTP_PASSWORD"
    assert secret["replication"] == {"auto": {}}  # gcloud's --replication-policy=automatic
    repo = adopted.one(adoption.REPOSITORY_TYPE).inputs
    assert (repo["repositoryId"], repo["location"], repo["format"], repo["mode"]) == (
        "app",
        "europe-west1",
        "DOCKER",
        "STANDARD_REPOSITORY",
    )
    assert "kmsKeyName" not in repo
    # Declaring the cleanup policies (and dry run) keeps the import from wiping or diffing them.
    assert repo["cleanupPolicyDryRun"] is False
    assert {p["id"] for p in repo["cleanupPolicies"]} == {
        "keep-recent-versions",
        "delete-old-untagged",
    }


def test_gcloud_written_service_fields_are_ignored_and_never_declared(adopted):
    service = adopted.one(adoption.SERVICE_TYPE)
    assert set(service.options["ignoreChanges"]) == {
        "client",
        "clientVersion",
        "annotations",
        "template.annotations",
    }
    # Ignoring them loses nothing: the program declares none of them.
    for name in ("client", "clientVersion", "annotations"):
        assert name not in service.inputs
    assert "annotations" not in service.inputs["template"]


def test_secret_version_is_new_not_imported(adopted):
    version = adopted.one("gcp:secretmanager/secretVersion:SecretVersion")
    assert version.import_id is None
    assert version.inputs["deletionPolicy"] == "ABANDON"
    env = next(
        e
        for e in adopted.one(adoption.SERVICE_TYPE).inputs["template"]["containers"][0]["envs"]
        if e["name"] == "SMTP_PASSWORD"
    )
    assert env["valueSource"]["secretKeyRef"]["version"] == version.outputs["version"]


def test_the_preview_imports_the_same_ids():
    preview = evaluate("prod", config=ADOPT, secrets=SECRETS, preview=True)
    assert {r.urn: r.import_id for r in preview.resources if r.import_id} == {
        r.urn: r.import_id
        for r in evaluate("prod", config=ADOPT, secrets=SECRETS).resources
        if r.import_id
    }


def test_not_adopting_imports_nothing(prod):
    assert [r.name for r in prod.resources if r.import_id] == []


@pytest.mark.parametrize("mode", ["invokerIamDisabled", "private"])
def test_no_invoker_binding_to_import_when_the_service_is_not_public_through_iam(mode):
    ev = evaluate("prod", config={**ADOPT, "publicAccess": mode}, secrets=SECRETS)
    assert ev.of_type(adoption.INVOKER_TYPE) == []
    assert ev.one(adoption.SERVICE_TYPE).import_id is not None


def test_no_secret_to_import_when_email_is_off():
    ev = evaluate("prod", config={**ADOPT, "emailEnabled": False})
    assert ev.of_type(adoption.SECRET_TYPE) == []
    assert {r.type for r in ev.resources if r.import_id} == {
        adoption.SERVICE_TYPE,
        adoption.INVOKER_TYPE,
        adoption.REPOSITORY_TYPE,
    }


# --- the pieces ---------------------------------------------------------------------------------


def test_import_ids_follow_the_settings():
    settings = load_stack_settings("prod", supplied_secrets=("smtpPassword",))
    assert adoption.import_ids(settings) == adoption.NO_IMPORTS
    assert not adoption.NO_IMPORTS.any()


def test_a_component_refuses_an_import_id_for_another_resource(prod):
    settings = load_stack_settings("prod", supplied_secrets=("smtpPassword",))
    args = AppServiceArgs(
        project="emergence-469005",
        region="europe-west1",
        settings=settings.service,
        image="x@sha256:0",
        service_account_email="a@b",
        import_id="projects/emergence-469005/locations/europe-west1/services/other-app",
    )
    with pytest.raises(ValueError, match="is not 'projects/emergence-469005/locations"):
        _check_import_ids(args)
    args.import_id = adoption.service_import_id("emergence-469005", "europe-west1", "emergence-app")
    _check_import_ids(args)  # the right one passes
    args.invoker_import_id = f"{args.import_id} roles/run.invoker allAuthenticatedUsers"
    with pytest.raises(ValueError, match="invoker import id"):
        _check_import_ids(args)


def test_iam_member_import_id_parts_cannot_contain_spaces():
    with pytest.raises(ValueError):
        adoption.iam_member_import_id("projects/p/secrets/s", "roles/x", "user:a b")
    with pytest.raises(ValueError):
        adoption.iam_member_import_id("projects/p/secrets/s", "", "allUsers")
