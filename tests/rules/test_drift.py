"""The drift decision (infra/rules/drift.py): live service JSON against declared inputs, no I/O."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import KEYS_BY_NAME
from infra.rules import drift
from infra.rules.drift import AFTER_UP, HIDDEN, compare, declared_view, live_view

PROJECT = "emergence-469005"
SA = "emergence-app-run@emergence-469005.iam.gserviceaccount.com"


def live_service(**template_fields):
    container = {
        "name": "app",
        "image": "europe-west1-docker.pkg.dev/p/app/emergence-app@sha256:" + "a" * 64,
        "ports": [{"name": "http1", "containerPort": 8080}],
        "env": [
            {"name": "PYTHONPATH", "value": "/app/src"},
            {
                "name": "OPENAI_API_KEY",
                "valueSource": {"secretKeyRef": {"secret": "OPENAI_API_KEY", "version": "5"}},
            },
        ],
        "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "cpuIdle": True},
        "startupProbe": {
            "httpGet": {"path": "/api/health", "port": 8080},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 24,
        },
    }
    template = {
        "serviceAccount": SA,
        "containers": [container],
        "scaling": {"minInstanceCount": 1, "maxInstanceCount": 10},
        "maxInstanceRequestConcurrency": 40,
        "timeout": "300s",
    }
    template.update(template_fields)
    return {
        "template": template,
        "ingress": "INGRESS_TRAFFIC_ALL",
        "traffic": [{"type": drift.LATEST, "percent": 100}],
        "labels": {"app": "emergence"},
    }


def as_declared(service):
    """The same service in pulumi-gcp's input names."""
    inputs = copy.deepcopy(service)
    container = inputs["template"]["containers"][0]
    container["envs"] = container.pop("env")
    container["ports"] = container["ports"][0]
    inputs["traffics"] = inputs.pop("traffic")
    return inputs


def diff(live, declared, unknown=lambda _v: False):
    return compare(
        live_view(live, PROJECT), declared_view(declared, PROJECT, unknown), stack="prod"
    )


def by_field(result):
    return {c.field: c for c in result.changes}


def test_the_same_service_on_both_sides_matches():
    service = live_service()
    result = diff(service, as_declared(service))
    assert result.matches and result.fixes() == [] and result.blocking() == []


def test_the_same_service_in_the_other_shape_reads_the_same():
    service = live_service()
    assert live_view(service, PROJECT) == declared_view(as_declared(service), PROJECT)


def test_removing_an_env_var_or_a_secret_ref_blocks_unless_accepted():
    live = live_service()
    declared = as_declared(live)
    declared["template"]["containers"][0]["envs"] = []
    result = diff(live, declared)
    changes = by_field(result)
    assert changes["env PYTHONPATH"].action == "remove"
    assert changes["secret OPENAI_API_KEY"].blocking == "removal"
    assert {c.field for c in result.blocking()} == {"env PYTHONPATH", "secret OPENAI_API_KEY"}
    assert result.blocking(accepted={"removal"}) == []
    assert changes["env PYTHONPATH"].fixes == (
        "pulumi config set --path 'emergence-cloudrun:appEnv.PYTHONPATH' /app/src --stack prod",
    )
    assert changes["secret OPENAI_API_KEY"].fixes == (
        "pulumi config set --path 'emergence-cloudrun:appSecretEnv.OPENAI_API_KEY' "
        "OPENAI_API_KEY:5 --stack prod",
    )
    assert drift.summary(result.blocking()) == "removes 2 env vars or secret refs"


def test_a_new_service_account_blocks_and_has_no_line_to_keep_the_old_one():
    live = live_service(serviceAccount="486095406755-compute@developer.gserviceaccount.com")
    change = by_field(diff(live, as_declared(live_service())))["service account"]
    assert change.blocking == "service account" and change.fixes == ()
    assert change.live.endswith("(the default compute account)")
    assert change.declared == SA


def test_values_only_pulumi_up_knows_are_notes_not_changes():
    live = live_service()
    declared = as_declared(live)
    container = declared["template"]["containers"][0]
    marker = object()
    container["image"] = marker
    declared["template"]["serviceAccount"] = marker
    container["envs"].append(
        {
            "name": "SMTP_PASSWORD",
            "valueSource": {"secretKeyRef": {"secret": "SMTP_PASSWORD", "version": marker}},
        }
    )
    live["template"]["containers"][0]["env"].append(
        {
            "name": "SMTP_PASSWORD",
            "valueSource": {"secretKeyRef": {"secret": "SMTP_PASSWORD", "version": "3"}},
        }
    )
    result = diff(live, declared, unknown=lambda v: v is marker)
    assert result.matches
    assert any(n.startswith("image: ") for n in result.notes)
    assert any(n.startswith("service account: ") and AFTER_UP in n for n in result.notes)
    assert any(
        n.startswith("secret SMTP_PASSWORD: secret SMTP_PASSWORD:3 ->") for n in result.notes
    )


def test_a_secret_looking_plain_value_is_never_shown():
    live = live_service()
    live["template"]["containers"][0]["env"].append({"name": "JWT_SECRET", "value": "tst-s3cr3t"})
    change = by_field(diff(live, as_declared(live_service())))["env JWT_SECRET"]
    assert change.live == HIDDEN
    assert "tst-s3cr3t" not in repr(change)
    assert change.fixes[0].startswith("gcloud secrets create JWT_SECRET --data-file=-")


def test_a_latest_reference_gets_a_line_asking_for_the_number():
    live = live_service()
    live["template"]["containers"][0]["env"][1]["valueSource"]["secretKeyRef"]["version"] = "latest"
    change = by_field(diff(live, as_declared(live_service())))["secret OPENAI_API_KEY"]
    assert change.action == "change"
    assert change.fixes == (
        "pulumi config set --path 'emergence-cloudrun:appSecretEnv.OPENAI_API_KEY' "
        "'OPENAI_API_KEY:<version number>' --stack prod",
    )
    assert "pin the number it resolves to" in change.note


def test_a_reference_by_full_path_in_the_project_is_the_same_secret():
    live = live_service()
    ref = live["template"]["containers"][0]["env"][1]["valueSource"]["secretKeyRef"]
    ref["secret"] = f"projects/{PROJECT}/secrets/OPENAI_API_KEY"
    assert diff(live, as_declared(live_service())).matches


def test_smtp_env_vars_map_back_to_their_settings():
    live = live_service()
    live["template"]["containers"][0]["env"] += [
        {"name": "EMAIL_ENABLED", "value": "0"},
        {"name": "SMTP_PORT", "value": "465"},
    ]
    declared = as_declared(live_service())
    declared["template"]["containers"][0]["envs"] += [
        {"name": "EMAIL_ENABLED", "value": "1"},
        {"name": "SMTP_PORT", "value": "587"},
    ]
    changes = by_field(diff(live, declared))
    assert changes["env EMAIL_ENABLED"].fixes == (
        "pulumi config set emergence-cloudrun:emailEnabled false --stack prod",
    )
    assert changes["env SMTP_PORT"].fixes == (
        "pulumi config set emergence-cloudrun:smtpPort 465 --stack prod",
    )


def test_http_probe_differences_print_the_probe_settings():
    live = live_service()
    probe = live["template"]["containers"][0]["startupProbe"]
    probe.update(periodSeconds=20, failureThreshold=6, httpGet={"path": "/healthz"})
    change = by_field(diff(live, as_declared(live_service())))["startup probe"]
    assert change.fixes == (
        "pulumi config set emergence-cloudrun:healthPath /healthz --stack prod",
        "pulumi config set emergence-cloudrun:startupProbePeriodSeconds 20 --stack prod",
        "pulumi config set emergence-cloudrun:startupProbeFailureThreshold 6 --stack prod",
    )


def test_a_reordered_env_list_is_one_change_without_a_line():
    live = live_service()
    live["template"]["containers"][0]["env"].reverse()
    result = diff(live, as_declared(live_service()))
    assert [c.field for c in result.changes] == ["env order"]
    assert result.blocking() == [] and result.fixes() == []


def test_every_setting_the_lines_name_exists():
    names = [*drift.SETTING.values(), "healthPath", "rollbackRevision", "appEnv", "appSecretEnv"]
    names += [k for keys in drift.PROBE_SETTINGS.values() for k in keys.values()]
    names += [key for key, _ in drift.SMTP_SETTINGS.values()]
    missing = [n for n in names if n not in KEYS_BY_NAME]
    assert missing == []


NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True)
PLAIN = st.text(alphabet="abc/:.019 ", max_size=12)


def envs(draw_names, draw_values):
    return st.dictionaries(draw_names, draw_values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(live_env=envs(NAMES, PLAIN), declared_env=envs(NAMES, PLAIN))
def test_env_changes_are_exactly_the_differences(live_env, declared_env):
    live = live_service()
    live["template"]["containers"][0]["env"] = [
        {"name": k, "value": v} for k, v in live_env.items()
    ]
    declared = as_declared(live_service())
    declared["template"]["containers"][0]["envs"] = [
        {"name": k, "value": v} for k, v in declared_env.items()
    ]
    changes = {c.field: c for c in diff(live, declared).changes if c.field.startswith("env ")}
    changes.pop("env order", None)
    removed = set(live_env) - set(declared_env)
    added = set(declared_env) - set(live_env)
    changed = {k for k in set(live_env) & set(declared_env) if live_env[k] != declared_env[k]}
    assert {f.removeprefix("env ") for f, c in changes.items() if c.action == "remove"} == removed
    assert {f.removeprefix("env ") for f, c in changes.items() if c.action == "add"} == added
    assert {f.removeprefix("env ") for f, c in changes.items() if c.action == "change"} == changed
    assert all(c.blocking == "removal" for c in changes.values() if c.action == "remove")
    assert all(not c.blocking for c in changes.values() if c.action != "remove")
