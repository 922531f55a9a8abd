"""`python -m infra adopt`: it compares the live service with the stack before anything is
imported (against a fake Admin API shaped like production), then prints the steps, the exact
commands and the `pulumi import` document."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile

import pytest

from infra.cli import main
from infra.cli.adopt import default_import_file
from infra.config import PROJECT, PROJECT_DIR, load_stack_settings
from infra.mockrun import evaluate
from infra.rules import adoption
from infra.rules.drift import compare, declared_view, live_view
from tests.adopt_helpers import (
    CANARY,
    LIVE_ENV,
    LIVE_SECRETS,
    SERVICE,
    SERVING,
    deploy_as_declared,
    seed_live_production,
)
from tests.conftest import TEST_SMTP_PASSWORD

ADOPT = {"adoptExisting": True}
ACCEPT = ["--accept-service-account"]
COMPUTE = "486095406755-compute@developer.gserviceaccount.com"
RUNTIME = "emergence-app-run@emergence-469005.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def adopted():
    return evaluate("prod", config=ADOPT, secrets={"smtpPassword": "x"})


@pytest.fixture
def live(fake_cloud_run):
    """Production as the app's deploy records left it (tests/adopt_helpers.py)."""
    seed_live_production(fake_cloud_run)
    return fake_cloud_run


def adopt(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["adopt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def change_lines(out: str) -> list[str]:
    report = out.split("\n\nDecided by", 1)[0].split("\n\nLeft alone", 1)[0]
    return [line for line in report.splitlines() if line[:4] in ("  + ", "  - ", "  ~ ")]


def fix_lines(out: str) -> list[str]:
    if "To keep what runs instead" not in out:
        return []
    block = out.split("To keep what runs instead, set (then run this command again):\n", 1)[1]
    return [line.strip() for line in block.split("\n\n", 1)[0].splitlines()]


# --- compare before import ----------------------------------------------------------------------


def test_it_compares_with_the_live_service_field_by_field_before_anything(live, capsys):
    code, out, err = adopt(capsys)
    assert code == 1, err
    lines = change_lines(out)
    assert (
        f"  ~ service account: {COMPUTE} (the default compute account) -> {RUNTIME}"
        in "\n".join(lines)
    )
    assert any(
        "service account" in line and "[needs --accept-service-account]" in line for line in lines
    )
    # What the stack adds to the running service: the e-mail settings and the stack's own secret.
    for name, value in {
        "EMAIL_ENABLED": "1",
        "SMTP_HOST": "smtp.gmail.com",
        "SMTP_PORT": "587",
    }.items():
        assert f"  + env {name}: '{value}'" in lines
    assert any(
        line.startswith(
            "  + secret SMTP_PASSWORD: secret SMTP_PASSWORD, the version this stack creates"
        )
        for line in lines
    )
    # What runs today and the stack declares alike: no line at all.
    for name in (*LIVE_ENV, *LIVE_SECRETS):
        assert not any(f" {name}:" in line for line in lines), name
    assert not any(
        line.split(":")[0].endswith(("cpu", "memory", "instances", "concurrency", "timeout"))
        for line in lines
    )
    probe = next(line for line in lines if "startup probe" in line)
    assert "TCP :8080, delay 0 s, every 240 s, timeout 240 s, 1 failure ->" in probe
    assert "HTTP GET /api/health :8080, delay 0 s, every 10 s, timeout 5 s, 24 failures" in probe
    assert (
        f"  ~ traffic: 100% {SERVING} (tag p2-sprint3); 0% {CANARY} (tag canary) -> 100% LATEST"
        in "\n".join(lines)
    )
    assert "Left alone: client, clientVersion, annotations, template.annotations" in out
    assert (
        "image: europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app:p2-sprint3 ->" in out
    )
    assert "Refused: adopting stack 'prod' changes the service account" in out
    assert "python -m infra adopt --stack prod --accept-service-account" in out
    assert "1. Check the live resources" not in out, "no import steps before the drift is accepted"
    # It only read: one GET of the service, nothing written.
    assert [(c.method, c.path) for c in live.calls] == [
        ("GET", f"/v2/{live.service_name(SERVICE)}")
    ]


def test_accepting_the_switch_to_the_runtime_account_prints_the_steps(live, capsys):
    code, out, _ = adopt(capsys, *ACCEPT)
    assert code == 0
    assert "[accepted]" in out
    assert "1. Check the live resources" in out and "3. Adopt in a pull request" in out
    assert out.index("Live service emergence-app") < out.index("1. Check")


def test_the_traffic_pin_can_be_kept_with_the_printed_line(live, capsys):
    _, out, _ = adopt(capsys)
    assert f"pulumi config set {PROJECT}:rollbackRevision {SERVING} --stack prod" in fix_lines(out)


def _apply(lines: list[str]) -> dict:
    """The config the printed `pulumi config set` lines write (short names, --path nested)."""
    config: dict = {}
    for line in lines:
        words = shlex.split(line)
        assert words[:3] == ["pulumi", "config", "set"] and words[-2:] == ["--stack", "prod"]
        words = words[3:-2]
        path = words[0] == "--path"
        key, value = words[-2], words[-1]
        name = key.split(":", 1)[1]
        if path:
            top, _, sub = name.partition(".")
            base = config.setdefault(top, dict(getattr(SETTINGS_NOW, top)))
            base[sub] = value
        else:
            config[name] = value
    return config


class _Now:
    """prod's maps as the stack file has them (the printed lines add to them)."""

    def __init__(self):
        s = load_stack_settings("prod", supplied_secrets=["smtpPassword"]).service
        self.appEnv = dict(s.env)
        self.appSecretEnv = {r.name: r.text for r in s.secret_env}


SETTINGS_NOW = _Now()


def _drift_after(lines: list[str], fake) -> list[str]:
    ev = evaluate("prod", config={**ADOPT, **_apply(lines)}, secrets={"smtpPassword": "x"})
    service = ev.one(adoption.SERVICE_TYPE).inputs
    drift = compare(
        live_view(fake.service(SERVICE), "emergence-469005"),
        declared_view(service, "emergence-469005"),
        stack="prod",
    )
    return [c.field for c in drift.changes]


def test_removing_what_runs_is_refused_until_accepted_and_the_lines_keep_it(fake_cloud_run, capsys):
    seed_live_production(
        fake_cloud_run,
        env={**LIVE_ENV, "LOG_LEVEL": "DEBUG"},
        secrets={**LIVE_SECRETS, "ELEVENLABS_API_KEY": "ELEVENLABS_API_KEY:2"},
    )
    code, out, _ = adopt(capsys, *ACCEPT)
    assert code == 1
    lines = change_lines(out)
    assert "  - env LOG_LEVEL: 'DEBUG'  [needs --accept-removals]" in lines
    assert (
        "  - secret ELEVENLABS_API_KEY: secret ELEVENLABS_API_KEY:2  [needs --accept-removals]"
        in lines
    )
    assert "removes 2 env vars or secret refs" in out
    fixes = fix_lines(out)
    assert f"pulumi config set --path '{PROJECT}:appEnv.LOG_LEVEL' DEBUG --stack prod" in fixes
    assert (
        f"pulumi config set --path '{PROJECT}:appSecretEnv.ELEVENLABS_API_KEY' "
        "ELEVENLABS_API_KEY:2 --stack prod" in fixes
    )
    # Set what the command printed, and nothing is removed any more.
    remaining = _drift_after(
        [f for f in fixes if "appEnv" in f or "appSecretEnv" in f], fake_cloud_run
    )
    assert "env LOG_LEVEL" not in remaining and "secret ELEVENLABS_API_KEY" not in remaining
    code, out, _ = adopt(capsys, *ACCEPT, "--accept-removals")
    assert code == 0 and "1. Check the live resources" in out


def test_changed_values_show_both_sides_and_the_lines_that_keep_what_runs(fake_cloud_run, capsys):
    seed_live_production(
        fake_cloud_run,
        env={**LIVE_ENV, "AUTH_DEV_MODE": "1"},
        secrets={**LIVE_SECRETS, "OPENAI_API_KEY": "OPENAI_API_KEY:4"},
        memory="4Gi",
        timeout="600s",
        min_instances=0,
        concurrency=80,
    )
    code, out, _ = adopt(capsys, *ACCEPT)
    assert code == 0, "changes are shown, not refused"
    lines = change_lines(out)
    for line in (
        "  ~ env AUTH_DEV_MODE: '1' -> '0'",
        "  ~ secret OPENAI_API_KEY: secret OPENAI_API_KEY:4 -> secret OPENAI_API_KEY:5",
        "  ~ memory: 4Gi -> 2Gi",
        "  ~ request timeout: 600 s -> 300 s",
        "  ~ min instances: 0 -> 1",
        "  ~ concurrency: 80 -> 40",
    ):
        assert line in lines, line
    fixes = fix_lines(out)
    for line in (
        f"pulumi config set --path '{PROJECT}:appEnv.AUTH_DEV_MODE' 1 --stack prod",
        f"pulumi config set --path '{PROJECT}:appSecretEnv.OPENAI_API_KEY' OPENAI_API_KEY:4"
        " --stack prod",
        f"pulumi config set {PROJECT}:memory 4Gi --stack prod",
        f"pulumi config set {PROJECT}:requestTimeoutSeconds 600 --stack prod",
        f"pulumi config set {PROJECT}:minInstances 0 --stack prod",
        f"pulumi config set {PROJECT}:concurrency 80 --stack prod",
    ):
        assert line in fixes, line
    remaining = _drift_after([f for f in fixes if "rollbackRevision" not in f], fake_cloud_run)
    for field in (
        "env AUTH_DEV_MODE",
        "secret OPENAI_API_KEY",
        "memory",
        "request timeout",
        "min instances",
        "concurrency",
    ):
        assert field not in remaining


def test_plain_values_are_shown_and_secret_looking_ones_never(fake_cloud_run, capsys):
    seed_live_production(
        fake_cloud_run,
        env={**LIVE_ENV, "API_TOKEN": "tok-tst-77", "SMTP_PASSWORD": TEST_SMTP_PASSWORD},
    )
    code, out, err = adopt(capsys)
    assert code == 1
    assert "tok-tst-77" not in out + err and TEST_SMTP_PASSWORD not in out + err
    lines = change_lines(out)
    assert (
        "  - env API_TOKEN: (value hidden: the name looks secret)  (a secret in plain text: move "
        "it to Secret Manager)  [needs --accept-removals]" in lines
    )
    assert any(
        line.startswith("  ~ env SMTP_PASSWORD: (value hidden: the name looks secret) -> secret")
        for line in lines
    )
    assert "gcloud secrets create API_TOKEN --data-file=-   # paste the value; then:" in fix_lines(
        out
    )
    assert "'1'" in "\n".join(lines), "plain values are shown"


def test_a_service_as_pulumi_up_leaves_it_matches_and_exits_0(fake_cloud_run, capsys):
    """After the adoption's `pulumi up`: the next compare is an empty diff."""
    up = evaluate("prod", config=ADOPT, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    deploy_as_declared(fake_cloud_run, up.one(adoption.SERVICE_TYPE).inputs)
    code, out, _ = adopt(capsys)
    assert code == 0
    assert "The stack matches the running service: adopting changes nothing on it." in out
    assert change_lines(out) == [] and fix_lines(out) == []
    assert "Refused" not in out and "1. Check the live resources" in out


def test_a_service_that_does_not_exist_is_nothing_to_adopt(fake_cloud_run, capsys):
    code, out, err = adopt(capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "does not exist, so there is nothing to adopt" in err
    assert "pulumi config rm emergence-cloudrun:adoptExisting --stack prod" in err


def test_without_credentials_or_endpoint_it_says_how(monkeypatch, capsys):
    monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", "http://example.com")
    code, _, err = adopt(capsys)
    assert code == 2 and err.count("\n") == 1
    assert "CLOUD_RUN_API_ENDPOINT" in err


# --- the steps and the import document ----------------------------------------------------------


@pytest.fixture
def output(live, tmp_path, capsys):
    path = tmp_path / "adopt.json"
    assert main(["adopt", *ACCEPT, "--import-file", str(path)]) == 0
    return capsys.readouterr().out, json.loads(path.read_text()), path


def test_lists_each_adopted_resource_with_its_import_id(output, adopted):
    out, _, _ = output
    imported = [r for r in adopted.resources if r.import_id]
    assert len(imported) == 4
    for r in imported:
        assert f"= {r.name}  [{r.type}]\n      id: {r.import_id}\n" in out
    assert "+ runtime-sa  [gcp:serviceaccount/account:Account]" in out
    assert "+ smtp-password-version  [gcp:secretmanager/secretVersion:SecretVersion]" in out
    assert (
        "+ app-secrets-OPENAI_API_KEY  [gcp:secretmanager/secretIamMember:SecretIamMember]" in out
    )


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
        f"python -m infra adopt --stack prod --accept-service-account --import-file {path}",
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


def test_options_name_the_bucket_and_secrets_provider(live, capsys):
    argv = [*ACCEPT, "--state-bucket", "team-state", "--secrets-provider", "gcpkms://k"]
    code, out, _ = adopt(capsys, *argv)
    assert code == 0
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
    stack_urn = f"urn:pulumi:prod::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-prod"
    top_level = {(r.type, r.name) for r in adopted.resources if r.parent == stack_urn}
    for entry in components:
        assert "id" not in entry and "parent" not in entry
        assert (entry["type"], entry["logicalName"]) in top_level
    names = [e["name"] for e in document["resources"]]
    for entry in custom:
        assert names.index(entry["parent"]) < names.index(entry["name"])


def test_works_before_the_password_is_set_and_never_prints_it(live, capsys):
    code, out, _ = adopt(capsys, *ACCEPT)  # Pulumi.prod.yaml holds no secret yet: step 2 sets it
    assert code == 0
    assert "placeholder" not in out and TEST_SMTP_PASSWORD not in out


def test_unknown_stack_is_a_one_line_error(capsys):
    assert main(["adopt", "--stack", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting for stack 'staging'")
    assert "pulumi stack init staging" in err


# --- the import file never dirties the work tree ------------------------------------------------


def _status() -> str:
    return subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_an_import_file_inside_the_work_tree_is_refused_before_anything(live, capsys):
    before = _status()
    code, out, err = adopt(capsys, *ACCEPT, "--import-file", "adopt.json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "--import-file adopt.json: inside the work tree" in err
    assert "the clean-tree gate would refuse `pulumi up` on prod" in err
    assert not (PROJECT_DIR / "adopt.json").exists()
    assert _status() == before
    assert live.calls == [], "refused before the live service is read"


def test_without_a_path_the_import_file_goes_outside_the_work_tree(
    live, capsys, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = _status()
    code, out, _ = adopt(capsys, *ACCEPT, "--import-file")
    assert code == 0
    path = default_import_file("prod")
    assert path.parent == tmp_path and path.is_file()
    assert json.loads(path.read_text())["resources"]
    assert f"Wrote {path}: " in out
    assert f"pulumi import --stack prod --file {path}" in out
    assert _status() == before, "the clean-tree gate still sees the same tree"


def test_the_readme_shows_what_the_command_prints_for_production(live, capsys):
    """README, migration step 2: every line of the example is in the real output."""
    _, out, _ = adopt(capsys)
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    block = readme.split("Against production as", 1)[1].split("The four plain env vars", 1)[0]
    shown = [line[7:] for line in block.splitlines() if line.startswith("       ")]
    assert len(shown) > 15
    printed = out.splitlines()
    assert [line for line in shown if line.strip() not in ("", "...") and line not in printed] == []
