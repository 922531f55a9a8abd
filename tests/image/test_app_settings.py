"""The reference app's settings (app_image/app/settings.py): pure, no web framework needed.

The container tests (image/test_app_image.py) show the same rules end to end in the real image.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.conftest import PROJECT_ROOT
from tests.image_helpers import app_smtp_env

_PATH = PROJECT_ROOT / "app_image" / "app" / "settings.py"
_spec = importlib.util.spec_from_file_location("emergence_reference_app_settings", _PATH)
app_settings = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = app_settings  # dataclasses look their module up by name
_spec.loader.exec_module(app_settings)
Settings = app_settings.Settings
ConfigError = app_settings.ConfigError

PASSWORD = "pw-Q7x!unique-4d1e"
SMTP = app_smtp_env(PASSWORD)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_defaults_match_cloud_run_conventions():
    s = Settings.from_env({})
    assert s.port == 8080
    assert (s.service, s.revision, s.version) == ("emergence-app", "local", "dev")
    assert s.email is None and not s.email_enabled
    assert s.token_sha256 == ()
    assert s.graceful_shutdown_seconds < 10  # Cloud Run sends SIGKILL 10 s after SIGTERM


def test_cloud_run_variables_are_read():
    s = Settings.from_env(
        {"PORT": "9090", "K_SERVICE": "svc", "K_REVISION": "svc-00007-abc", "APP_VERSION": "v1"}
    )
    assert (s.port, s.service, s.revision, s.version) == (9090, "svc", "svc-00007-abc", "v1")


def test_complete_smtp_settings_are_parsed_and_the_password_stays_out_of_repr():
    s = Settings.from_env(SMTP)
    assert s.email_enabled
    assert s.email.port == 587 and s.email.use_tls is True
    assert s.email.from_name == "ÉMERGENCE"
    assert s.email.password == PASSWORD
    assert PASSWORD not in repr(s)


@pytest.mark.parametrize("missing", app_settings.SMTP_VARIABLES)
def test_each_missing_smtp_variable_refuses_start_and_is_named(missing):
    env = {k: v for k, v in SMTP.items() if k != missing}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert f"EMAIL_ENABLED=1 but the SMTP settings are incomplete: {missing} is not set" in message
    assert PASSWORD not in message


def test_blank_values_count_as_missing_and_all_are_listed():
    env = {**SMTP, "SMTP_HOST": "  ", "SMTP_USER": ""}
    with pytest.raises(ConfigError, match="SMTP_HOST, SMTP_USER are not set"):
        Settings.from_env(env)


@pytest.mark.parametrize("flag", ["0", "false", "", "off"])
def test_email_disabled_needs_no_smtp_settings(flag):
    assert Settings.from_env({"EMAIL_ENABLED": flag}).email is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "http"}, ["PORT"]),
        ({"PORT": "70000"}, ["PORT"]),
        ({"EMAIL_ENABLED": "maybe"}, ["EMAIL_ENABLED"]),
        ({**SMTP, "SMTP_PORT": "five"}, ["SMTP_PORT"]),
        ({**SMTP, "SMTP_USE_TLS": "sometimes"}, ["SMTP_USE_TLS"]),
        ({**SMTP, "SMTP_FROM_EMAIL": "nobody"}, ["SMTP_FROM_EMAIL"]),
        ({"LOG_LEVEL": "loud"}, ["LOG_LEVEL"]),
        ({"PORT": "x", "GRACEFUL_SHUTDOWN_SECONDS": "-1"}, ["PORT", "GRACEFUL_SHUTDOWN_SECONDS"]),
    ],
)
def test_bad_values_are_refused_naming_every_variable(env, names):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    for name in names:
        assert name in str(err.value)
    assert PASSWORD not in str(err.value)


def test_token_digest_list_accepts_configured_tokens_only():
    s = Settings.from_env({"API_TOKEN_SHA256": f"{sha('first')}, {sha('second').upper()}"})
    assert s.token_is_valid("first")
    assert s.token_is_valid("second")
    assert not s.token_is_valid("third")
    assert not s.token_is_valid("")


def test_without_configured_tokens_nothing_is_valid():
    assert not Settings.from_env({}).token_is_valid("anything")


def test_a_malformed_token_digest_is_refused_without_echoing_it():
    pasted_token = "my-plain-token-not-a-digest"
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"API_TOKEN_SHA256": f"{sha('ok')},{pasted_token}"})
    assert "API_TOKEN_SHA256" in str(err.value)
    assert "entry 2" in str(err.value)
    assert pasted_token not in str(err.value)


@given(token=st.text(min_size=1, max_size=40), other=st.text(min_size=1, max_size=40))
def test_a_token_is_valid_exactly_when_its_digest_is_configured(token, other):
    s = Settings.from_env({"API_TOKEN_SHA256": sha(token)})
    assert s.token_is_valid(token)
    assert s.token_is_valid(other) == (other == token)


def _refusal(env):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    return str(err.value)


_BAD = {"SMTP_PORT": "bad", "SMTP_USE_TLS": "x", "SMTP_FROM_EMAIL": "nobody", "PORT": "0"}
_TEMPLATE = _refusal({**SMTP, **_BAD, "SMTP_PASSWORD": "p"})


@given(password=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=6))
def test_no_refusal_message_contains_the_password(password):
    assume(password.strip() and password not in _TEMPLATE)
    message = _refusal({**SMTP, **_BAD, "SMTP_PASSWORD": password})
    assert message == _TEMPLATE
    assert password not in message
