"""`python -m infra plan`: what `pulumi up` would declare, secrets masked, clean errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from infra.cli import main
from infra.cli.plan import WIDTH
from infra.config import PROJECT_DIR
from infra.mockrun import PLACEHOLDER_SECRET
from tests.conftest import TEST_SMTP_PASSWORD


def test_plan_lists_every_resource_with_its_type(capsys):
    assert main(["plan", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    for type_ in (
        "gcp:cloudrunv2/service:Service",
        "docker-build:index:Image",
        "gcp:artifactregistry/repository:Repository",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "gcp:serviceaccount/account:Account",
        "gcp:projects/service:Service",
    ):
        assert type_ in out
    assert "secretData = [secret]" in out
    assert "registries = [secret]" in out
    assert PLACEHOLDER_SECRET not in out
    assert "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" in out
    # the stack file lacks it here; the hint names the key and the stack
    assert "pulumi config set --secret emergence-cloudrun:smtpPassword --stack prod" in out


def test_plan_json_masks_secrets(capsys):
    assert main(["plan", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    version = next(r for r in doc["resources"] if r["type"].endswith("secretVersion:SecretVersion"))
    assert version["inputs"]["secretData"] == "[secret]"
    assert PLACEHOLDER_SECRET not in json.dumps(doc)
    services = [r for r in doc["resources"] if r["type"] == "gcp:cloudrunv2/service:Service"]
    assert len(services) == 1


def test_plan_of_a_missing_stack_is_one_clear_line():
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--stack", "nope"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "pulumi stack init nope" in proc.stderr


def test_plan_with_a_bad_setting_names_it_without_a_traceback(tmp_path):
    stack = f"test-bad-{tmp_path.name[-8:].lower()}"
    stack_file = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    stack_file.write_text(
        "config:\n  gcp:project: emergence-469005\n  gcp:region: europe-west1\n"
        "  emergence-cloudrun:emailEnabled: 'false'\n  emergence-cloudrun:smtpPort: '99999'\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "infra", "plan", "--stack", stack],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        stack_file.unlink()
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "emergence-cloudrun:smtpPort: 99999 is outside 1..65535" in proc.stderr
    assert proc.stdout == ""


def test_plan_never_prints_the_password_or_the_registry_token(prod):
    """With the real secret in the evaluation (not the placeholder), every form stays masked."""
    from infra.cli.plan import as_json, render

    for text in (render(prod), render(prod, everything=True), as_json(prod)):
        assert TEST_SMTP_PASSWORD not in text
        assert "mock-access-token" not in text  # the push token mockrun hands the program


@pytest.mark.parametrize("everything", [[], ["--all"]], ids=["key-inputs", "all"])
def test_plan_text_fits_the_width_and_hides_engine_internals(capsys, everything):
    assert main(["plan", "--stack", "prod", *everything]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        # only a single word longer than the width (an image name) may stick out
        assert len(line) <= WIDTH or " " not in line.split(" = ", 1)[-1].strip(), line
    assert "__provider" not in out
    assert "gASV" not in out  # the start of a pickle, in base64
    # thousands of characters of dashboard JSON, summarised on one line
    assert re.search(r"dashboardJson = \(\d,\d{3} characters; python -m infra plan", out), out
    assert "python -m infra plan --json shows it whole" in out


def test_plan_json_is_complete_but_without_the_pickled_providers_unless_asked(capsys):
    assert main(["plan", "--stack", "prod", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["plan", "--stack", "prod", "--json", "--internals"]) == 0
    internals = json.loads(capsys.readouterr().out)
    assert "__provider" not in json.dumps(plain)
    with_provider = [r for r in internals["resources"] if "__provider" in r["inputs"]]
    assert {r["type"].rsplit(":", 1)[-1] for r in with_provider} == {
        "DeploymentCheck",
        "RevisionRetention",
    }
    for before, after in zip(plain["resources"], internals["resources"], strict=True):
        kept = {k: v for k, v in after["inputs"].items() if not k.startswith("__")}
        assert before["inputs"] == kept  # nothing else is left out or cut
    dashboards = [r for r in plain["resources"] if "dashboardJson" in r["inputs"]]
    assert len(dashboards[0]["inputs"]["dashboardJson"]) > 5000  # whole, not summarised


def test_internals_without_json_is_one_line(capsys):
    assert main(["plan", "--internals"]) == 2
    assert capsys.readouterr().err.startswith("error: --internals goes with --json")
