"""The whole program for stack prod, evaluated under Pulumi's mocks: what `pulumi up` declares."""

from __future__ import annotations

import json
import re

import pytest

from infra.config import SettingsError
from infra.mockrun import UNKNOWN, attempt, evaluate
from tests.conftest import TEST_SMTP_PASSWORD

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
IMAGE = "docker-build:index:Image"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
ACCESSOR = "gcp:secretmanager/secretIamMember:SecretIamMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
API = "gcp:projects/service:Service"
API_KEYS = ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
SMTP_ENV = (
    "EMAIL_ENABLED",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_FROM_EMAIL",
    "SMTP_FROM_NAME",
    "SMTP_USE_TLS",
)


def container(ev):
    return ev.one(RUN_SERVICE).inputs["template"]["containers"][0]


def test_exactly_one_cloud_run_service(prod):
    assert len(prod.of_type(RUN_SERVICE)) == 1
    assert prod.of_type(RUN_V1_SERVICE) == []
    assert prod.one(RUN_SERVICE).inputs["name"] == "emergence-app"
    assert prod.one(RUN_SERVICE).inputs["location"] == "europe-west1"
    assert prod.one(RUN_SERVICE).inputs["project"] == "emergence-469005"


def test_all_traffic_goes_to_the_latest_revision(prod):
    traffics = prod.one(RUN_SERVICE).inputs["traffics"]
    assert traffics == [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]


def test_rollback_pins_all_traffic_to_one_revision(fake_cloud_run):
    # The program first checks through the Admin API that the target exists and is Ready.
    fake_cloud_run.deploy("emergence-app", revision_id="emergence-app-00041-xyz")
    fake_cloud_run.deploy("emergence-app")
    ev = evaluate(
        "prod",
        config={"rollbackRevision": "emergence-app-00041-xyz"},
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    assert ev.one(RUN_SERVICE).inputs["traffics"] == [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": "emergence-app-00041-xyz",
            "percent": 100,
        }
    ]
    assert ev.outputs["trafficPinnedTo"] == "emergence-app-00041-xyz"
    assert ev.of_type(IMAGE), "a new image is still built while pinned"


def test_environment_is_the_guides_smtp_settings_and_the_apps_own(prod):
    envs = {e["name"]: e for e in container(prod)["envs"]}
    plain = {name: e["value"] for name, e in envs.items() if "value" in e}
    assert plain == {
        "EMAIL_ENABLED": "1",
        "SMTP_HOST": "smtp.gmail.com",
        "SMTP_PORT": "587",
        "SMTP_USER": "gonzalefernando@gmail.com",
        "SMTP_FROM_EMAIL": "gonzalefernando@gmail.com",
        "SMTP_FROM_NAME": "ÉMERGENCE",
        "SMTP_USE_TLS": "1",
        # appEnv: what production runs with (the app's deploy records)
        "AUTH_DEV_MODE": "0",
        "CONCEPT_RECALL_METRICS_ENABLED": "true",
        "GOOGLE_ALLOWED_EMAILS": "gonzalefernando@gmail.com",
        "PYTHONPATH": "/app/src",
    }
    assert set(envs) == {*plain, "SMTP_PASSWORD", *API_KEYS}
    assert all("valueSource" not in envs[name] for name in plain)


def test_the_api_keys_are_references_to_the_existing_secrets_at_version_5(prod):
    envs = {e["name"]: e for e in container(prod)["envs"]}
    for name in API_KEYS:
        assert "value" not in envs[name]
        assert envs[name]["valueSource"] == {"secretKeyRef": {"secret": name, "version": "5"}}
    # Existing secrets: referenced, never declared (so never owned, changed or destroyed).
    assert [s.inputs["secretId"] for s in prod.of_type(SECRET)] == ["SMTP_PASSWORD"]
    assert [v.inputs["secret"] for v in prod.of_type(SECRET_VERSION)] == [prod.one(SECRET).id]


def test_each_existing_secret_gets_secret_accessor_on_that_secret_only(prod):
    member = prod.one(ACCOUNT).outputs["member"]
    bindings = {
        b.inputs["secretId"]: b
        for b in prod.of_type(ACCESSOR)
        if b.inputs["secretId"] != prod.one(SECRET).id
    }
    assert set(bindings) == {f"projects/emergence-469005/secrets/{name}" for name in API_KEYS}
    service = prod.one(RUN_SERVICE)
    for binding in bindings.values():
        assert binding.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert binding.inputs["member"] == member
        assert binding.urn in service.dependencies  # Cloud Run checks access at deploy
        assert prod.by_urn(binding.parent).type == "emergence:secrets:SecretAccess"


def test_two_env_vars_reading_one_secret_share_one_binding():
    ev = evaluate(
        "prod",
        config={
            "appSecretEnv": {
                "GEMINI_API_KEY": "GOOGLE_API_KEY:5",
                "GOOGLE_API_KEY": "GOOGLE_API_KEY:5",
            }
        },
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    ids = [b.inputs["secretId"] for b in ev.of_type(ACCESSOR)]
    assert ids.count("projects/emergence-469005/secrets/GOOGLE_API_KEY") == 1
    refs = {e["name"]: e["valueSource"] for e in container(ev)["envs"] if "valueSource" in e}
    assert refs["GEMINI_API_KEY"] == refs["GOOGLE_API_KEY"]


def test_the_reference_stack_declares_no_app_env_and_no_existing_secret():
    ev = evaluate("reference", secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    names = {e["name"] for e in container(ev)["envs"]}
    assert names == {*SMTP_ENV, "SMTP_PASSWORD"}
    assert [
        t for t in (r.type for r in ev.resources) if t == "emergence:secrets:SecretAccess"
    ] == []


def test_smtp_password_is_a_secret_reference_pinned_to_the_created_version(prod):
    env = next(e for e in container(prod)["envs"] if e["name"] == "SMTP_PASSWORD")
    assert "value" not in env
    ref = env["valueSource"]["secretKeyRef"]
    version = prod.one(SECRET_VERSION)
    secret = prod.one(SECRET)
    assert ref["secret"] == secret.inputs["secretId"] == "SMTP_PASSWORD"
    assert ref["version"] == version.outputs["version"] != "latest"
    assert version.inputs["secret"] == secret.id
    assert version.inputs["deletionPolicy"] == "ABANDON"  # rollback targets keep their version
    assert secret.inputs["replication"] == {"auto": {}}


def test_service_waits_for_the_secret_accessor_binding(prod):
    service = prod.one(RUN_SERVICE)
    accessor = next(a for a in prod.of_type(ACCESSOR) if a.name == "smtp-password-accessor")
    assert accessor.urn in service.dependencies
    assert accessor.inputs["role"] == "roles/secretmanager.secretAccessor"
    assert accessor.inputs["secretId"] == prod.one(SECRET).id  # this secret only
    assert accessor.inputs["member"] == prod.one(ACCOUNT).outputs["member"]
    for api in prod.of_type(API):
        assert api.urn in service.dependencies


def test_no_project_wide_secret_access_and_no_basic_roles(prod):
    roles = sorted(r.inputs["role"] for r in prod.of_type(PROJECT_IAM))
    # prod's runtime roles (Pulumi.prod.yaml): what the real app's code uses
    assert roles == [
        "roles/datastore.user",
        "roles/logging.logWriter",
        "roles/logging.viewer",
        "roles/monitoring.metricWriter",
        "roles/storage.objectUser",
    ]
    assert "roles/secretmanager.secretAccessor" not in roles
    for binding in prod.of_type(PROJECT_IAM):
        assert binding.inputs["member"] == prod.one(ACCOUNT).outputs["member"]


def test_runs_as_the_dedicated_service_account(prod):
    account = prod.one(ACCOUNT)
    email = prod.one(RUN_SERVICE).inputs["template"]["serviceAccount"]
    assert (
        email
        == account.outputs["email"]
        == "emergence-app-run@emergence-469005.iam.gserviceaccount.com"
    )
    assert "compute@developer.gserviceaccount.com" not in email


def test_probes_get_the_health_endpoint(prod):
    c = container(prod)
    assert c["startupProbe"]["httpGet"] == {"path": "/api/health", "port": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/api/health", "port": 8080}
    assert c["startupProbe"]["timeoutSeconds"] <= c["startupProbe"]["periodSeconds"] <= 240
    assert c["ports"] == {"containerPort": 8080, "name": "http1"}


def test_resources_scaling_and_timeouts_come_from_settings():
    ev = evaluate(
        "prod",
        config={"cpu": "2", "memory": "4Gi", "maxInstances": 7, "concurrency": 20},
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    template = ev.one(RUN_SERVICE).inputs["template"]
    assert template["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert template["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 7}
    assert template["maxInstanceRequestConcurrency"] == 20
    assert template["timeout"] == "300s"


def test_service_runs_the_image_by_digest(prod):
    image = prod.pushed_image()
    repository = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"
    assert container(prod)["image"] == f"{repository}@{image.outputs['digest']}"
    assert re.fullmatch(re.escape(repository) + "@sha256:[0-9a-f]{64}", container(prod)["image"])
    [tag] = image.inputs["tags"]
    assert tag.startswith(f"{repository}:deploy-")
    assert image.inputs["platforms"] == ["linux/amd64"]
    # The context staged from the app's source (infra/preflight/source.py), relative to
    # Pulumi.yaml so that state is portable; the one Dockerfile of this repository.
    assert image.inputs["context"]["location"].startswith(".build/context-")
    assert image.inputs["dockerfile"]["location"] == "app_image/Dockerfile"
    assert image.inputs["buildArgs"]["APP_MODULE"] == "backend.main:app"
    assert image.inputs["registries"][0]["username"] == "oauth2accesstoken"
    assert "registries" in image.secret_inputs


def test_preview_never_gives_cloud_run_a_tag(prod_preview):
    assert container(prod_preview)["image"] is UNKNOWN
    assert prod_preview.outputs["imageDigest"] is UNKNOWN


def test_registry_keeps_at_least_as_many_images_as_revisions(prod):
    repo = prod.one(REPOSITORY)
    assert repo.inputs["repositoryId"] == "app"
    assert repo.inputs["format"] == "DOCKER"
    assert repo.inputs["location"] == "europe-west1"
    assert repo.inputs["cleanupPolicyDryRun"] is False
    policies = {p["id"]: p for p in repo.inputs["cleanupPolicies"]}
    keep = policies["keep-recent-versions"]
    assert keep["action"] == "KEEP"
    assert keep["mostRecentVersions"]["keepCount"] >= 3
    delete = policies["delete-old-untagged"]
    assert delete["action"] == "DELETE"
    assert delete["condition"] == {"tagState": "UNTAGGED", "olderThan": f"{14 * 86400}s"}


def test_apis_are_enabled_and_never_disabled_on_destroy(prod):
    apis = {a.inputs["service"]: a.inputs for a in prod.of_type(API)}
    assert set(apis) == {
        "run.googleapis.com",
        "artifactregistry.googleapis.com",
        "secretmanager.googleapis.com",
        "iam.googleapis.com",
        # monitoringEnabled (default true): uptime checks, alerts, log-based metrics
        "monitoring.googleapis.com",
        "logging.googleapis.com",
    }
    assert all(a["disableOnDestroy"] is False for a in apis.values())


def test_monitoring_apis_only_when_monitoring_is_enabled():
    ev = evaluate(
        "prod", config={"monitoringEnabled": False}, secrets={"smtpPassword": TEST_SMTP_PASSWORD}
    )
    apis = {a.inputs["service"] for a in ev.of_type(API)}
    assert "monitoring.googleapis.com" not in apis and "logging.googleapis.com" not in apis
    assert "run.googleapis.com" in apis


def test_public_by_all_users_by_default(prod):
    service = prod.one(RUN_SERVICE)
    assert service.inputs["deletionProtection"] is True
    assert service.inputs["invokerIamDisabled"] is False
    invoker = prod.one(INVOKER)
    assert invoker.inputs["member"] == "allUsers"
    assert invoker.inputs["role"] == "roles/run.invoker"


@pytest.mark.parametrize(
    ("mode", "members", "iam_disabled"),
    [("invokerIamDisabled", [], True), ("private", [], False)],
)
def test_public_access_modes(mode, members, iam_disabled):
    ev = evaluate(
        "prod", config={"publicAccess": mode}, secrets={"smtpPassword": TEST_SMTP_PASSWORD}
    )
    assert [r.inputs["member"] for r in ev.of_type(INVOKER)] == members
    assert ev.one(RUN_SERVICE).inputs["invokerIamDisabled"] is iam_disabled


def test_components_are_typed_and_own_their_children(prod):
    components = {r.type for r in prod.resources if not r.custom}
    assert {
        "emergence:apis:ProjectApis",
        "emergence:registry:ArtifactRepository",
        "emergence:identity:RuntimeIdentity",
        "emergence:secrets:SmtpSecret",
        "emergence:image:AppImage",
        "emergence:service:AppService",
    } <= components
    by_urn = {r.urn: r for r in prod.resources}
    for r in prod.custom():
        assert r.parent in by_urn and not by_urn[r.parent].custom, f"{r.name} has no component"
        assert r.name.startswith(by_urn[r.parent].name + "-")


def test_outputs(prod):
    assert prod.outputs["serviceUrl"].startswith("https://emergence-app-")
    assert prod.outputs["latestReadyRevision"].startswith("emergence-app-")
    assert prod.outputs["imageTag"].startswith("deploy-")
    assert prod.outputs["imageDigest"] == prod.image_digest()
    assert prod.outputs["secretId"] == "SMTP_PASSWORD"
    assert prod.outputs["serviceAccountEmail"] == prod.one(ACCOUNT).outputs["email"]
    assert prod.secret_outputs == frozenset()


def test_the_password_is_only_in_the_secret_version_and_only_as_a_secret(prod):
    holders = []
    for r in prod.resources:
        if TEST_SMTP_PASSWORD in json.dumps(r.inputs, default=str):
            holders.append((r.type, r.name))
    assert holders == [(SECRET_VERSION, "smtp-password-version")]
    assert "secretData" in prod.one(SECRET_VERSION).secret_inputs
    assert TEST_SMTP_PASSWORD not in json.dumps(prod.outputs, default=str)


def test_email_disabled_needs_no_password_and_declares_no_secret():
    ev = evaluate("prod", config={"emailEnabled": False})
    assert ev.of_type(SECRET) == [] and ev.of_type(SECRET_VERSION) == []
    assert all("SMTP_PASSWORD" not in a.inputs["secretId"] for a in ev.of_type(ACCESSOR))
    envs = {e["name"]: e.get("value") for e in container(ev)["envs"]}
    assert envs["EMAIL_ENABLED"] == "0"
    assert "SMTP_PASSWORD" not in envs
    assert ev.outputs["secretId"] is None


BAD_CONFIGS = [
    ({"gcp:region": "europe-west99"}, "gcp:region", "europe-west1"),
    ({"gcp:project": "Emergence_469005"}, "gcp:project", "emergence-469005"),
    ({"smtpPort": "smtp"}, "emergence-cloudrun:smtpPort", "587"),
    ({"smtpPort": 70000}, "emergence-cloudrun:smtpPort", "587"),
    ({"smtpUser": "gonzalefernando"}, "emergence-cloudrun:smtpUser", "@"),
    ({"smtpFromEmail": "no-at-sign.example.com"}, "emergence-cloudrun:smtpFromEmail", "@"),
    ({"serviceName": "Emergence_App"}, "emergence-cloudrun:serviceName", "emergence-app"),
    ({"serviceName": "emergence-app-"}, "emergence-cloudrun:serviceName", "emergence-app"),
    ({"serviceName": "e" * 50}, "emergence-cloudrun:serviceName", "49"),
    ({"revisionsToKeep": 0}, "emergence-cloudrun:revisionsToKeep", "1..3"),
    ({"revisionsToKeep": 5}, "emergence-cloudrun:revisionsToKeep", "1..3"),
    ({"memory": "2GB"}, "emergence-cloudrun:memory", "2Gi"),
    ({"memory": "64Gi"}, "emergence-cloudrun:memory", "32Gi"),
    ({"cpu": "3"}, "emergence-cloudrun:cpu", "1, 2, 4, 6, 8"),
    ({"cpu": "1", "memory": "8Gi"}, "emergence-cloudrun:memory", "at most 4Gi"),
    ({"cpu": "0.5"}, "emergence-cloudrun:cpu", "concurrency 1"),
    ({"maxInstances": 0}, "emergence-cloudrun:maxInstances", "1..1000"),
    ({"minInstances": 5, "maxInstances": 2}, "emergence-cloudrun:minInstances", "maxInstances"),
    ({"concurrency": 5000}, "emergence-cloudrun:concurrency", "1..1000"),
    ({"requestTimeoutSeconds": 7200}, "emergence-cloudrun:requestTimeoutSeconds", "3600"),
    ({"startupProbeTimeoutSeconds": 20}, "emergence-cloudrun:startupProbeTimeoutSeconds", "period"),
    ({"startupProbePeriodSeconds": 300}, "emergence-cloudrun:startupProbePeriodSeconds", "240"),
    ({"publicAccess": "everyone"}, "emergence-cloudrun:publicAccess", "allUsers"),
    ({"emailEnabled": "yes"}, "emergence-cloudrun:emailEnabled", "true"),
    ({"imagesToKeep": 2}, "emergence-cloudrun:imagesToKeep", "revisionsToKeep"),
    ({"buildArgs": '{"TORCH_VERSON": "2.13.0"}'}, "emergence-cloudrun:buildArgs", "TORCH_VERSION"),
    ({"buildInclude": '["../secrets"]'}, "emergence-cloudrun:buildInclude", "relative"),
    ({"runtimeRoles": '["roles/editor"]'}, "emergence-cloudrun:runtimeRoles", "basic role"),
    (
        {"rollbackRevision": "other-app-00001-abc"},
        "emergence-cloudrun:rollbackRevision",
        "revisions",
    ),
    ({"smtpHost": "smtp gmail com"}, "emergence-cloudrun:smtpHost", "smtp.gmail.com"),
]


@pytest.mark.parametrize(
    ("config", "key", "fix"),
    BAD_CONFIGS,
    ids=[c[1] + "=" + str(list(c[0].values())[-1])[:20] for c in BAD_CONFIGS],
)
def test_bad_setting_names_the_key_and_fix_and_registers_nothing(config, key, fix):
    ev, error = attempt("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    assert isinstance(error, SettingsError)
    assert key in error.keys
    message = str(error)
    assert f"{key}:" in message and "Fix:" in message and fix in message
    assert ev.resources == [], "a bad setting must stop the program before any resource"
    assert TEST_SMTP_PASSWORD not in message
    assert "--stack prod" in message, "every fix hint names the stack"


@pytest.mark.parametrize(
    "config",
    [
        {"uptimeCheckPeriodSeconds": 60, "uptimeCheckTimeoutSeconds": 90},
        {"verifyAllowedServices": ["emergence-app"]},
        {"smtpHost": ""},
        {"cpu": "4", "memory": "1Gi"},
        {"verifyChecks": ["bad"]},
        {"verifyChecks": []},
        {"phase2CacheHitRateExpectedMaxPercent": 10},
        {"dockerfile": "nope"},
        {"healthPath": "x"},
        {"defaultBranch": "..x"},
        {"phase2CostBaseline": "-1"},
    ],
)
def test_every_fix_hint_names_the_stack(config):
    _, error = attempt("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    assert isinstance(error, SettingsError)
    for key, message in error.problems:
        assert "Fix:" in message, key
        assert "--stack prod" in message, message


def test_email_enabled_without_password_is_refused_before_anything():
    ev, error = attempt("prod")
    assert isinstance(error, SettingsError)
    assert error.keys == ["emergence-cloudrun:smtpPassword"]
    assert "pulumi config set --secret emergence-cloudrun:smtpPassword" in str(error)
    assert ev.resources == []


LEAK = "sk-tst-9f8e7d6c5b4a"  # a value that must never appear in a refusal
APP_ENV = "emergence-cloudrun:appEnv"
APP_SECRET_ENV = "emergence-cloudrun:appSecretEnv"
BAD_RUNTIME_ENV = [
    ({"appEnv": {"PORT": "9000"}}, APP_ENV, "PORT and K_* are reserved"),
    ({"appEnv": {"K_SERVICE": "x"}}, APP_ENV, "PORT and K_* are reserved"),
    ({"appEnv": {"K_NEW_THING": "x"}}, APP_ENV, "PORT and K_* are reserved"),
    ({"appEnv": {"1ST": "x"}}, APP_ENV, "is not an environment variable name"),
    ({"appEnv": {"A-B": "x"}}, APP_ENV, "is not an environment variable name"),
    (
        {"appEnv": {"OPENAI_API_KEY": LEAK}},
        APP_ENV,
        "appSecretEnv.OPENAI_API_KEY' OPENAI_API_KEY:1",
    ),
    ({"appEnv": {"AUTH_JWT_SECRET": LEAK}}, APP_ENV, "looks like a secret"),
    ({"appEnv": {"github_token": LEAK}}, APP_ENV, "looks like a secret"),
    ({"appEnv": {"SMTP_HOST": "smtp.example.com"}}, APP_ENV, "declared twice"),
    ({"appEnv": {"SMTP_PASSWORD": LEAK}}, APP_ENV, "declared twice"),
    ({"appEnv": {"WORKERS": [4]}}, APP_ENV, "is not text"),
    ({"appEnv": {"WORKERS": None}}, APP_ENV, "in Pulumi.prod.yaml"),
    ({"appEnv": "WORKERS=4"}, APP_ENV, "is not a map of NAME: value"),
    (
        {"appSecretEnv": {"OPENAI_API_KEY": "OPENAI_API_KEY:latest"}},
        APP_SECRET_ENV,
        "latest is refused",
    ),
    (
        {"appSecretEnv": {"OPENAI_API_KEY": "OPENAI_API_KEY"}},
        APP_SECRET_ENV,
        "not SECRET_ID:VERSION",
    ),
    (
        {"appSecretEnv": {"OPENAI_API_KEY": "OPENAI_API_KEY:0"}},
        APP_SECRET_ENV,
        "not SECRET_ID:VERSION",
    ),
    (
        {"appSecretEnv": {"OPENAI_API_KEY": "OPENAI_API_KEY:1.5"}},
        APP_SECRET_ENV,
        "not SECRET_ID:VERSION",
    ),
    ({"appSecretEnv": {"OPENAI_API_KEY": "openai key:5"}}, APP_SECRET_ENV, "not SECRET_ID:VERSION"),
    ({"appSecretEnv": {"OPENAI_API_KEY": LEAK}}, APP_SECRET_ENV, "not SECRET_ID:VERSION"),
    (
        {"appSecretEnv": {"MAIL_PW": "SMTP_PASSWORD:3"}},
        APP_SECRET_ENV,
        "the one this stack creates",
    ),
    ({"appSecretEnv": {"SMTP_PASSWORD": "OTHER:3"}}, APP_SECRET_ENV, "declared twice"),
    (
        {"appSecretEnv": {"PYTHONPATH": "PYTHONPATH:1"}},
        APP_SECRET_ENV,
        "in appEnv and in appSecretEnv",
    ),
    ({"appSecretEnv": {"PORT": "PORT:1"}}, APP_SECRET_ENV, "PORT and K_* are reserved"),
    (
        {"runtimeRoles": ["roles/secretmanager.secretAccessor"]},
        "emergence-cloudrun:runtimeRoles",
        "each secret in appSecretEnv",
    ),
    ({"runtimeRoles": ["roles/viewer"]}, "emergence-cloudrun:runtimeRoles", "basic role"),
    (
        {"smtpPasword": "x"},
        "emergence-cloudrun:smtpPasword",
        "did you mean emergence-cloudrun:smtpPassword?",
    ),
]


@pytest.mark.parametrize(
    ("config", "key", "fix"),
    BAD_RUNTIME_ENV,
    ids=[f"{c[1].split(':')[1]}-{i}" for i, c in enumerate(BAD_RUNTIME_ENV)],
)
def test_bad_runtime_env_is_refused_by_key_before_any_resource(config, key, fix):
    ev, error = attempt("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    assert isinstance(error, SettingsError), error
    assert error.keys == [key]
    message = str(error)
    assert fix in message and "Fix:" in message
    assert "--stack prod" in message or "Pulumi.prod.yaml" in message
    assert ev.resources == [], "a bad setting must stop the program before any resource"
    assert LEAK not in message and TEST_SMTP_PASSWORD not in message


def test_numbers_and_booleans_in_app_env_are_text_as_written():
    """`pulumi config set --path 'emergence-cloudrun:appEnv.WORKERS' 4` stores 4 unquoted."""
    ev = evaluate(
        "prod",
        config={"appEnv": {"WORKERS": 4, "FAST_BOOT": True, "RATIO": 0.5}},
        secrets={"smtpPassword": TEST_SMTP_PASSWORD},
    )
    plain = {e["name"]: e["value"] for e in container(ev)["envs"] if "value" in e}
    assert (plain["WORKERS"], plain["FAST_BOOT"], plain["RATIO"]) == ("4", "true", "0.5")
