"""Reading Pulumi.<stack>.yaml the way the Pulumi CLI reads it, and refusing what it must not
take: hostile YAML (aliases, duplicates, deep nesting, huge files), values no setting takes
(`!!binary`, `!!set`, null, infinity), malformed `secure:` values, keys Pulumi.yaml does not
declare (typos, with a did-you-mean). Every refusal is a SettingsError naming the key or the
file and the fix, with `--stack <name>` in every `pulumi config` hint."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

from infra.config import (
    PROJECT,
    STACK_FILE_MAX_BYTES,
    SettingsError,
    build_settings,
    config_string,
    load_stack_settings,
    read_stack_config,
    with_stack,
)
from tests.settings.test_config import PASSPHRASE_CIPHERTEXT

BASE = "config:\n  gcp:project: emergence-469005\n  gcp:region: europe-west1\n"


def stack_file(tmp_path: Path, body: str, name: str = "x") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(BASE + body, encoding="utf-8")
    return path


def refusal(tmp_path: Path, body: str, name: str = "x") -> SettingsError:
    stack_file(tmp_path, body, name)
    with pytest.raises(SettingsError) as err:
        read_stack_config(name, tmp_path)
    return err.value


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the previous one ten times (10**9 strings, ~1.3 KB)."""
    lines = ['  a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


# --- hostile YAML -----------------------------------------------------------------------------


def test_billion_laughs_is_refused_before_anything_expands(tmp_path):
    body = billion_laughs()
    assert len(BASE + body) < 1400
    tracemalloc.start()
    try:
        error = refusal(tmp_path, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(error)
    assert "\n" not in message
    assert "Pulumi.x.yaml: uses a YAML anchor or alias ('&a0'" in message
    assert "at line 4" in message and f"Fix: correct {tmp_path / 'Pulumi.x.yaml'}" in message
    assert peak < 5_000_000, f"{peak} bytes: the aliases were expanded"  # 856 MB before


@pytest.mark.parametrize(
    "body",
    [
        "  emergence-cloudrun:smtpUser: &me a@b.co\n  emergence-cloudrun:smtpFromEmail: *me\n",
        "  emergence-cloudrun:appEnv: &env {A: '1'}\n",
        "  emergence-cloudrun:verifyChecks: [*x]\n",
    ],
    ids=["anchor-and-alias", "anchor-only", "unknown-alias"],
)
def test_any_anchor_or_alias_is_refused(tmp_path, body):
    assert "anchor or alias" in str(refusal(tmp_path, body))


def test_a_file_larger_than_any_stack_file_is_refused_unread(tmp_path):
    message = str(refusal(tmp_path, "# " + "x" * STACK_FILE_MAX_BYTES + "\n"))
    assert f"is larger than {STACK_FILE_MAX_BYTES // 1024} KB" in message


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    message = str(refusal(tmp_path, "  emergence-cloudrun:appEnv: " + "[" * 5000 + "\n"))
    assert "nests maps and lists more than 16 deep" in message


@pytest.mark.parametrize(
    ("body", "key", "lines"),
    [
        ("  emergence-cloudrun:smtpPort: 25\n  emergence-cloudrun:smtpPort: 587\n", "smtpPort", 5),
        ("  gcp:region: us-east1\n", "gcp:region", 4),
        (
            "  emergence-cloudrun:appEnv:\n    A: '1'\n    A: '2'\n",
            "A",
            6,
        ),
    ],
    ids=["same-key", "provider-key", "inside-a-map"],
)
def test_a_key_written_twice_is_refused_with_both_lines(tmp_path, body, key, lines):
    message = str(refusal(tmp_path, body))
    assert f"writes the key '{PROJECT + ':' + key if key == 'smtpPort' else key}' twice" in message
    assert f"and {lines}); the Pulumi CLI refuses that" in message


def test_a_key_written_with_and_without_its_namespace_is_refused(tmp_path):
    error = refusal(tmp_path, "  smtpPort: 25\n  emergence-cloudrun:smtpPort: 587\n")
    assert error.keys == [f"{PROJECT}:smtpPort"]
    assert "is set twice in Pulumi.x.yaml, as 'smtpPort' and as 'emergence-cloudrun:smtpPort'" in (
        str(error)
    )


# --- values as the Pulumi CLI reads them (go-yaml v3) ------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "seen"),
    [
        ("2025-10-10", "2025-10-10"),  # unquoted date: text as written, not a date object
        ("2025-10-10T06:05:38Z", "2025-10-10T06:05:38Z"),
        ("yes", "yes"),  # YAML 1.1's boolean is text in YAML 1.2
        ("on", "on"),
        ("true", "true"),
        ("587", "587"),
        ("0x1F", "31"),
        ("010", "8"),  # go-yaml v3 still reads a leading zero as octal
        ("1_000", "1000"),
        ("1e3", "1000"),
        ("2.50", "2.5"),
        ("10.0", "10"),
        ("1:30", "1:30"),  # no sexagesimal numbers in YAML 1.2
        ("'~'", "~"),
        ('""', ""),
    ],
)
def test_scalars_reach_the_program_as_the_pulumi_cli_passes_them(tmp_path, yaml_value, seen):
    stack_file(tmp_path, f"  emergence-cloudrun:smtpFromName: {yaml_value}\n")
    values, _ = read_stack_config("x", tmp_path)
    assert values[f"{PROJECT}:smtpFromName"] == seen


@pytest.mark.parametrize(
    ("yaml_value", "what"),
    [
        ("!!binary aGVsbG8=", "a !!binary value"),
        ("!!set {a, b}", "a !!set value"),
        ("!!timestamp 2025-10-10", "a !!timestamp value"),
        ("!!omap [a: 1]", "a !!omap or !!pairs value"),
        (".inf", "the number inf"),
        ("-.Inf", "the number -inf"),
        (".nan", "the number nan"),
        ("[!!binary aGVsbG8=]", "a !!binary value"),
    ],
)
def test_values_no_setting_takes_are_refused_by_key_not_a_type_error(tmp_path, yaml_value, what):
    error = refusal(tmp_path, f"  emergence-cloudrun:smtpFromName: {yaml_value}\n")
    assert error.keys == [f"{PROJECT}:smtpFromName"]
    assert f"holds {what} in Pulumi.x.yaml, which no setting takes" in str(error)
    assert "--stack x" in str(error)


@pytest.mark.parametrize("yaml_value", ["", "~", "null", "Null"])
def test_null_is_refused_by_key_not_read_as_the_text_null(tmp_path, yaml_value):
    error = refusal(tmp_path, f"  emergence-cloudrun:buildTarget: {yaml_value}\n")
    assert error.keys == [f"{PROJECT}:buildTarget"]
    message = str(error)
    assert "has no value in Pulumi.x.yaml" in message
    assert f"pulumi config rm {PROJECT}:buildTarget --stack x" in message


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("  emergence-cloudrun:smtpHost: [a, b]\n", "must be one string"),
        ("  emergence-cloudrun:smtpPort: {a: 1}\n", "must be one integer"),
        ("  emergence-cloudrun:verifyChecks: {health: x}\n", "must be a list"),
        ("  emergence-cloudrun:appEnv: [A]\n", "must be a map"),
    ],
)
def test_a_list_or_map_where_pulumi_yaml_declares_another_type_is_refused(tmp_path, body, want):
    assert want in str(refusal(tmp_path, body))


def test_gcp_project_empty_is_refused(tmp_path):
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  gcp:project: ''\n  gcp:region: europe-west1\n", encoding="utf-8"
    )
    with pytest.raises(SettingsError) as err:
        load_stack_settings("x", tmp_path, supplied_secrets=["smtpPassword"])
    assert "gcp:project" in err.value.keys
    assert "gcp:project: is empty" in str(err.value)
    assert "pulumi config set gcp:project emergence-469005 --stack x" in str(err.value)


def test_gcp_region_empty_is_refused():
    with pytest.raises(SettingsError) as err:
        build_settings("x", {"gcp:project": "emergence-469005", "gcp:region": " "})
    assert "gcp:region: is empty" in str(err.value)


# --- secure values ------------------------------------------------------------------------------

KMS_CIPHERTEXT = "CiQAbWZ0c3BqZ2hmZGhzZ2ZzZGhqZ2ZkaGdzZmpkaGdzZmpoZ2RmABIaY2lwaGVydGV4dA=="


@pytest.mark.parametrize("ciphertext", [PASSPHRASE_CIPHERTEXT, KMS_CIPHERTEXT])
def test_a_ciphertext_the_cli_writes_is_seen_and_never_read(tmp_path, ciphertext):
    stack_file(tmp_path, f"  emergence-cloudrun:smtpPassword:\n    secure: {ciphertext}\n")
    values, secure = read_stack_config("x", tmp_path)
    assert secure == {f"{PROJECT}:smtpPassword"}
    assert all(ciphertext not in v for v in values.values())


@pytest.mark.parametrize(
    "secure",
    [
        "secure: tst-typed-Pw-9c1",  # a password typed by hand
        "secure: 'tst typed Pw 9c1'",
        "secure: ''",
        "secure:",
        "secure: 1234567890123456789",
        "secure: [tst-typed-Pw-9c1]",
        "secure: v1:tst-typed-Pw-9c1",
        "secure: v1:a:b:c:d:e:f:g:h:i:j",
        f"{{secure: {PASSPHRASE_CIPHERTEXT}, other: tst-typed-Pw-9c1}}",
    ],
)
def test_a_malformed_secure_value_is_flagged_without_repeating_it(tmp_path, secure):
    if secure.startswith("{"):
        body = f"  emergence-cloudrun:smtpPassword: {secure}\n"
    else:
        body = f"  emergence-cloudrun:smtpPassword:\n    {secure}\n"
    error = refusal(tmp_path, body)
    assert error.keys == [f"{PROJECT}:smtpPassword"]
    message = str(error)
    assert "secure: value in Pulumi.x.yaml is not a ciphertext the Pulumi CLI writes" in message
    assert f"pulumi config set --secret {PROJECT}:smtpPassword --stack x" in message
    assert "tst-typed-Pw-9c1" not in message and "tst typed" not in message


# --- typos --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("smtpPasword", "smtpPassword"),
        ("SMTPHOST", "smtpHost"),
        ("maxInstance", "maxInstances"),
        ("phase2CacheHitRateExpectedMaxPrecent", "phase2CacheHitRateExpectedMaxPercent"),
        ("appSecretsEnv", "appSecretEnv"),
    ],
)
def test_a_key_pulumi_yaml_does_not_declare_is_refused_with_a_did_you_mean(tmp_path, typo, meant):
    error = refusal(tmp_path, f"  emergence-cloudrun:{typo}: x\n", name="staging")
    assert error.keys == [f"{PROJECT}:{typo}"]
    message = str(error)
    assert "is not defined by the project configuration (Pulumi.yaml)" in message
    assert f"did you mean {PROJECT}:{meant}?" in message
    assert f"pulumi config rm {PROJECT}:{typo} --stack staging" in message
    secret = " --secret" if meant == "smtpPassword" else ""
    assert f"pulumi config set{secret} {PROJECT}:{meant}" in message
    assert message.count("--stack staging") == 2


def test_an_undeclared_key_far_from_any_is_refused_without_a_guess(tmp_path):
    message = str(refusal(tmp_path, "  emergence-cloudrun:zzzzzzzz: 1\n"))
    assert "is not defined by the project configuration" in message
    assert "did you mean" not in message


def test_a_typo_written_without_the_namespace_is_refused_too(tmp_path):
    assert refusal(tmp_path, "  smtpHots: smtp.example.com\n").keys == [f"{PROJECT}:smtpHots"]


def test_keys_of_other_namespaces_are_the_providers_business(tmp_path):
    stack_file(tmp_path, "  gcp:zone: europe-west1-b\n  docker:host: unix:///x\n")
    values, _ = read_stack_config("x", tmp_path)
    assert values["gcp:zone"] == "europe-west1-b"


def test_every_problem_of_the_file_is_reported_at_once(tmp_path):
    error = refusal(
        tmp_path,
        "  emergence-cloudrun:smtpHots: x\n  emergence-cloudrun:buildTarget:\n"
        "  emergence-cloudrun:smtpFromName: !!binary aGVsbG8=\n",
    )
    assert set(error.keys) == {
        f"{PROJECT}:{k}" for k in ("smtpHots", "buildTarget", "smtpFromName")
    }


# --- fix hints name the stack -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "hint"),
    [
        ({"gcp:region": "mars-1"}, "pulumi config set gcp:region europe-west1 --stack canary"),
        ({f"{PROJECT}:smtpPort": "x"}, f"pulumi config set {PROJECT}:smtpPort 587 --stack canary"),
        ({f"{PROJECT}:emailEnabled": "true"}, "smtpPassword --stack canary (it prompts"),
        (
            {f"{PROJECT}:alertEmails": '["x"]'},
            "'emergence-cloudrun:alertEmails[0]' ops@example.com --stack canary",
        ),
        (
            {f"{PROJECT}:phase2CostBaseline": "-1"},
            f"pulumi config rm {PROJECT}:phase2CostBaseline --stack canary",
        ),
    ],
)
def test_every_fix_hint_names_the_stack(config, hint):
    raw = {"gcp:project": "emergence-469005", "gcp:region": "europe-west1", **config}
    with pytest.raises(SettingsError) as err:
        build_settings("canary", raw)
    assert hint in str(err.value)
    commands = re.findall(r"pulumi config (?:set|rm)[^,;()]*", str(err.value))
    assert commands and all("--stack canary" in c for c in commands), commands


def test_with_stack_leaves_a_hint_that_names_a_stack_alone():
    text = "Fix: pulumi config set emergence-cloudrun:cpu 1 --stack prod"
    assert with_stack(text, "prod") == text
    assert (
        with_stack("`pulumi config set a:b false`", "s")
        == "`pulumi config set a:b false --stack s`"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (587, "587"), (10.0, "10"), (2.5, "2.5"), (1e-7, "1e-07"), ("x", "x")],
)
def test_config_string_writes_numbers_like_go(value, text):
    assert config_string(value) == text
