"""Settings: the key table, Pulumi.yaml and Pulumi.prod.yaml agree; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.config import (
    GCP_KEYS,
    KEYS,
    KEYS_BY_NAME,
    PROJECT,
    PROJECT_DIR,
    SettingsError,
    build_settings,
    load_stack_settings,
    read_stack_config,
)

PULUMI_YAML = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))
PROD_YAML = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text(encoding="utf-8"))
ALLOWED_DECLARATION_FIELDS = {"type", "items", "description", "secret", "default"}
# What `pulumi config set --secret` writes with a passphrase provider: v1:<nonce>:<ciphertext>.
PASSPHRASE_CIPHERTEXT = "v1:Gm9q1x2bYwQ3Ld0E:pX4cF0m1a2VtS9WkqLrT0b3Ue8nYhJ5iZQ=="


def test_project_file_names_the_project_and_its_venv():
    assert PULUMI_YAML["name"] == PROJECT
    runtime = PULUMI_YAML["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"]["virtualenv"] == ".venv"


def test_every_key_in_code_is_declared_in_pulumi_yaml_and_back():
    declared = set(PULUMI_YAML["config"])
    in_code = {k.name for k in KEYS}
    assert declared == in_code, (
        f"only in Pulumi.yaml: {declared - in_code}; only in code: {in_code - declared}"
    )


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.name)
def test_declaration_matches_code(key):
    decl = PULUMI_YAML["config"][key.name]
    assert set(decl) <= ALLOWED_DECLARATION_FIELDS  # Pulumi's project schema rejects others
    assert decl["type"] == key.type
    assert decl["description"] == key.description and len(key.description) > 10
    assert decl.get("secret", False) == key.secret
    if key.type == "array":
        assert decl["items"] == {"type": "string"}
    # Mocks never apply Pulumi.yaml defaults, so the code's default must be the same one.
    assert decl.get("default") == key.default
    if key.secret:
        assert "default" not in decl, "a secret has no default: it is set per stack"


def test_defaults_alone_make_valid_settings_once_project_region_and_smtp_are_given():
    raw = {
        "gcp:project": "emergence-469005",
        "gcp:region": "europe-west1",
        f"{PROJECT}:smtpUser": "a@b.co",
        f"{PROJECT}:smtpFromEmail": "a@b.co",
    }
    s = build_settings("dev", raw, secrets_present={f"{PROJECT}:smtpPassword"})
    assert s.service.name == "emergence-app"
    assert s.retention.revisions_to_keep == 3
    assert s.registry.images_to_keep >= s.retention.revisions_to_keep
    assert s.image.platform == "linux/amd64"
    assert s.image.context == PROJECT_DIR / "app_image"


def test_prod_stack_file_holds_the_guides_settings():
    config = PROD_YAML["config"]
    assert config["gcp:project"] == "emergence-469005"
    assert config["gcp:region"] == "europe-west1"
    known = {k.full for k in (*KEYS, *GCP_KEYS)}
    assert set(config) <= known, f"unknown keys: {set(config) - known}"
    for name, value in config.items():
        key = KEYS_BY_NAME[name.split(":", 1)[1]]
        if key.secret:
            assert isinstance(value, dict) and set(value) == {"secure"}, name


def test_prod_settings_give_the_guides_environment():
    s = load_stack_settings("prod", supplied_secrets=["smtpPassword"])
    assert s.smtp.env() == {
        "EMAIL_ENABLED": "1",
        "SMTP_HOST": "smtp.gmail.com",
        "SMTP_PORT": "587",
        "SMTP_USER": s.smtp.user,
        "SMTP_FROM_EMAIL": s.smtp.from_email,
        "SMTP_FROM_NAME": "ÉMERGENCE",
        "SMTP_USE_TLS": "1",
    }
    assert "@" in s.smtp.user and "@" in s.smtp.from_email
    assert s.service.deletion_protection is True
    assert s.image_repository == ("europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app")


def test_stack_file_secure_values_are_seen_but_never_read(tmp_path: Path):
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  emergence-cloudrun:smtpPassword:\n"
        f"    secure: {PASSPHRASE_CIPHERTEXT}\n  smtpPort: 25\n"
    )
    values, secure = read_stack_config("x", tmp_path)
    assert secure == {f"{PROJECT}:smtpPassword"}
    assert values == {f"{PROJECT}:smtpPort": "25"}


def test_missing_stack_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="pulumi stack init nope"):
        read_stack_config("nope", tmp_path)


def test_all_problems_are_reported_together():
    with pytest.raises(SettingsError) as err:
        build_settings("prod", {"gcp:project": "X", "gcp:region": "mars-1"})
    assert {"gcp:project", "gcp:region"} <= set(err.value.keys)
    assert "nothing was changed" in str(err.value)


def test_readme_settings_table_lists_every_key_with_its_default():
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for key in KEYS:
        rows = [line for line in readme.splitlines() if line.startswith(f"| `{key.name}` |")]
        assert len(rows) == 1, f"README settings table: no single row for {key.name}"
        if key.default not in (None, "", [], ()):
            shown = str(key.default).lower() if isinstance(key.default, bool) else key.default
            if isinstance(shown, list):
                shown = ", ".join(shown)
            assert f"`{shown}`" in rows[0], f"README shows another default for {key.name}"


def _pulumi_accepts(type_name: str, value: object) -> bool:
    """The Pulumi CLI's check of a stack value against its declared type (ValidateConfigValue
    in sdk/go/common/workspace/project.go): strings that parse are accepted for integers and
    booleans, as `pulumi config set` writes them."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    checks = {
        "string": isinstance(value, str),
        "integer": not isinstance(value, bool)
        and (integral or (isinstance(value, str) and value.lstrip("+-").isdigit())),
        "boolean": isinstance(value, bool) or value in ("true", "false"),
        "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "object": isinstance(value, dict),  # Pulumi CLI >= 3.190 (project.json's simpleConfigType)
    }
    return checks[type_name]


def test_the_pinned_pulumi_cli_accepts_every_declared_type():
    """`type: object` (appEnv, appSecretEnv, buildArgs) is in the CLI's project schema since
    v3.190.0."""
    pinned = tuple(int(n) for n in (PROJECT_DIR / ".pulumi.version").read_text().split("."))
    if any(key.type == "object" for key in KEYS):
        assert pinned >= (3, 190, 0)


@pytest.mark.parametrize("stack", ["prod", "reference"])
def test_stack_values_pass_the_pulumi_clis_type_check(stack):
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    for name, value in document["config"].items():
        namespace, short = name.split(":", 1)
        if namespace != PROJECT:
            continue
        assert _pulumi_accepts(KEYS_BY_NAME[short].type, value), f"{name}: {value!r}"


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.name)
def test_defaults_pass_the_pulumi_clis_type_check(key):
    if key.default is not None:
        assert _pulumi_accepts(key.type, key.default)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config:\n  gcp:project: [unclosed\n", "cannot be read (expected ',' or ']'"),
        (b"\xff\xfe config", "cannot be read ('utf-8' codec"),
        ("config: 3\n", "is not a Pulumi stack file"),
        ("- a list\n", "is not a Pulumi stack file"),
        ("config:\n  1: 2\n", "is not a Pulumi stack file"),
    ],
)
def test_a_broken_stack_file_is_one_line_naming_it(tmp_path: Path, text, problem):
    path = tmp_path / "Pulumi.broken.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        read_stack_config("broken", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert f"Pulumi.broken.yaml: {problem}" in message
    assert f"Fix: correct {'or restore ' if 'read' in problem else ''}{path}" in message


@pytest.mark.parametrize("name", ["smtpPassword", f"{PROJECT}:smtpPassword"])
def test_a_secret_in_plain_text_in_the_stack_file_is_refused_without_repeating_it(
    tmp_path: Path, name
):
    leaked = "tst-plain-Pw-5e1f"
    (tmp_path / "Pulumi.leaky.yaml").write_text(
        f"config:\n  gcp:project: emergence-469005\n  {name}: {leaked}\n", encoding="utf-8"
    )
    with pytest.raises(SettingsError) as err:
        read_stack_config("leaky", tmp_path)
    message = str(err.value)
    assert leaked not in message
    assert f"{PROJECT}:smtpPassword: is written in plain text in Pulumi.leaky.yaml" in message
    assert f"pulumi config set --secret {PROJECT}:smtpPassword" in message
