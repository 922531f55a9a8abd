"""`python -m infra adopt`: the steps, the exact commands, and the `pulumi import` document."""

from __future__ import annotations

import json

import pytest

from infra.cli import main
from infra.config import PROJECT, load_stack_settings
from infra.mockrun import evaluate
from infra.rules import adoption
from tests.conftest import TEST_SMTP_PASSWORD


@pytest.fixture(scope="module")
def adopted():
    return evaluate("prod", config={"adoptExisting": True}, secrets={"smtpPassword": "x"})


@pytest.fixture
def output(tmp_path, capsys):
    path = tmp_path / "adopt.json"
    assert main(["adopt", "--import-file", str(path)]) == 0
    return capsys.readouterr().out, json.loads(path.read_text()), path


def test_lists_each_adopted_resource_with_its_import_id(output, adopted):
    out, _, _ = output
    imported = [r for r in adopted.resources if r.import_id]
    assert len(imported) == 4
    for r in imported:
        assert f"= {r.name}  [{r.type}]\n      id: {r.import_id}\n" in out
    assert "+ runtime-sa  [gcp:serviceaccount/account:Account]" in out
    assert "+ smtp-password-version  [gcp:secretmanager/secretVersion:SecretVersion]" in out


def test_prints_the_exact_pulumi_commands(output):
    out, _, path = output
    for command in (
        "pulumi login gs://emergence-469005-pulumi-state",
        "pulumi stack init prod --secrets-provider='gcpkms://projects/emergence-469005/"
        "locations/global/keyRings/pulumi/cryptoKeys/state'",
        "pulumi config set --secret emergence-cloudrun:smtpPassword --stack prod",
        "pulumi config set emergence-cloudrun:adoptExisting true --stack prod",
        "pulumi preview --stack prod --policy-pack policy --diff",
        "pulumi config rm emergence-cloudrun:adoptExisting --stack prod",
        f"pulumi import --stack prod --file {path} --protect=false --generate-code=false",
    ):
        assert f"   {command}" in out, command
    # In order: checks, backend, adopt, clean up.
    assert out.index("1. Check") < out.index("2. Once") < out.index("3. Adopt") < out.index("4. ")


def test_prints_the_read_only_checks_of_replacement_forcing_fields(output):
    out, _, _ = output
    settings = load_stack_settings("prod", supplied_secrets=("smtpPassword",))
    checks = adoption.live_checks(settings)
    assert len(checks) == 5
    for check in checks:
        assert f"   {check.command}\n" in out
        assert check.expect in out
        assert check.command.startswith("gcloud ")
        assert not any(verb in check.command for verb in (" update", " delete", " create", " add"))
    assert "replication: automatic: {}" in out
    assert "format: DOCKER, mode: STANDARD_REPOSITORY" in out


def test_options_name_the_bucket_and_secrets_provider(capsys):
    assert main(["adopt", "--state-bucket", "team-state", "--secrets-provider", "gcpkms://k"]) == 0
    out = capsys.readouterr().out
    assert "pulumi login gs://team-state" in out
    assert "--secrets-provider='gcpkms://k'" in out


def test_import_document_puts_every_resource_at_the_programs_urn(output, adopted):
    """Rebuild each URN from the document (type chain of parents + logical name)."""
    _, document, _ = output
    entries = {e["name"]: e for e in document["resources"]}
    assert len(entries) == len(document["resources"]), "names key the document: unique"

    def urn(entry):
        chain = [entry["type"]]
        parent = entry.get("parent")
        while parent:
            chain.insert(0, entries[parent]["type"])
            parent = entries[parent].get("parent")
        return f"urn:pulumi:prod::{PROJECT}::{'$'.join(chain)}::{entry['logicalName']}"

    expected = {r.urn: r for r in adopted.resources if r.import_id}
    custom = [e for e in document["resources"] if not e.get("component")]
    assert {urn(e) for e in custom} == set(expected)
    for entry in custom:
        resource = expected[urn(entry)]
        assert entry["id"] == resource.import_id
        assert entry["type"] == resource.type
    components = [e for e in document["resources"] if e.get("component")]
    assert {e["type"] for e in components} == {
        "emergence:service:AppService",
        "emergence:secrets:SmtpSecret",
        "emergence:registry:ArtifactRepository",
    }
    # Top-level components: the engine's URN omits the root stack's type (the mock's keeps it),
    # so compare them by type and name, and check they are the stack's direct children.
    stack_urn = f"urn:pulumi:prod::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-prod"
    top_level = {(r.type, r.name) for r in adopted.resources if r.parent == stack_urn}
    for entry in components:
        assert "id" not in entry and "parent" not in entry
        assert (entry["type"], entry["logicalName"]) in top_level
    # Parents come before their children.
    names = [e["name"] for e in document["resources"]]
    for entry in custom:
        assert names.index(entry["parent"]) < names.index(entry["name"])


def test_works_before_the_password_is_set_and_never_prints_it(capsys):
    assert main(["adopt"]) == 0  # Pulumi.prod.yaml holds no secret yet: step 2 sets it
    out = capsys.readouterr().out
    assert "placeholder" not in out and TEST_SMTP_PASSWORD not in out


def test_unknown_stack_is_a_one_line_error(capsys):
    assert main(["adopt", "--stack", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting for stack 'staging'")
    assert "pulumi stack init staging" in err
