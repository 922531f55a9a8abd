"""infra.rules.redaction: a secret is replaced in every form an app may log it in, for a set
of secrets; a URL's credentials are never shown, wherever a `/`, `?` or `#` falls in them."""

from __future__ import annotations

import base64
import json
import math
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.rules.redaction import (
    REDACTED,
    Redactor,
    hide_url_credentials,
    secret_forms,
    url_has_credentials,
)

SECRET = "S3nt/inel Pw'\"é+%"
API_KEY = "sk-test-0123456789abcdef"


def embedded(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "plain": f"password={secret}",
        "json": json.dumps({"password": secret}),
        "json-unicode": json.dumps({"password": secret}, ensure_ascii=False),
        "json-slash": json.dumps({"password": secret}).replace("/", "\\/"),
        "repr-dict": repr({"password": secret}),
        "repr-list": repr([secret, "it's"]),
        "repr-bytes": repr({"password": raw}),
        "url": "https://h/login?pw=" + urllib.parse.quote(secret, safe=""),
        "url-path": "https://h/" + urllib.parse.quote(secret),
        "form": "user=alice&pw=" + urllib.parse.quote_plus(secret),
        "base64": base64.b64encode(raw).decode(),
        "basic-0": "Basic " + base64.b64encode(b"bob:" + raw + b"xy").decode(),
        "basic-1": "Basic " + base64.b64encode(b"alice:" + raw).decode(),
        "basic-2": "Basic " + base64.b64encode(b"al:" + raw + b"z").decode(),
        "urlsafe": base64.urlsafe_b64encode(b"k" + raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }


@pytest.mark.parametrize("form", list(embedded(SECRET)))
def test_every_form_of_the_secret_is_replaced(form):
    text = embedded(SECRET)[form]
    redacted = Redactor([SECRET])(text)
    assert REDACTED in redacted
    assert SECRET not in redacted
    assert text not in redacted


def test_a_set_of_secrets_is_redacted_together_and_nothing_else():
    redact = Redactor([SECRET, API_KEY, None, ""])
    text = f"smtp={json.dumps(SECRET)} key={API_KEY} b64={base64.b64encode(API_KEY.encode())}"
    redacted = redact(text + " ordinary words stay")
    assert SECRET not in redacted and API_KEY not in redacted
    assert "sk-test" not in redacted
    assert redacted.endswith(" ordinary words stay")
    assert Redactor([])("nothing to do") == "nothing to do"


def test_a_short_secret_is_still_replaced_as_itself():
    assert Redactor(["ab"])("xaby") == f"x{REDACTED}y"
    assert all(len(form) >= 4 or form == "ab" for form in secret_forms("ab"))


@given(
    secret=st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s),
    before=st.binary(max_size=12),
    after=st.binary(max_size=12),
)
def test_base64_at_any_alignment_keeps_at_most_the_edges(secret, before, after):
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = base64.b64encode(before + raw + after).decode()
    left = Redactor([secret])(encoded).replace(REDACTED, "")
    # what can remain is the encoding of the bytes around the secret, plus a few characters
    # at each edge that mix them with the secret's first or last byte
    context = 4 * math.ceil(len(before) / 3) + 4 * math.ceil(len(after) / 3)
    assert len(left) <= context + 8


@given(secret=st.text(min_size=1, max_size=40), noise=st.text(max_size=20))
def test_plain_json_repr_and_url_forms_never_survive(secret, noise):
    redact = Redactor([secret])
    for text in (
        noise + secret + noise,
        json.dumps({"k": noise + secret}),
        repr([noise + secret]),
        urllib.parse.quote_plus(noise + secret),
    ):
        assert secret not in redact(text) or secret in REDACTED


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:S3nt/inelPw@host/x", "http://***@host/x"),
        ("http://alice:pa?ss@host", "http://***@host"),
        ("http://alice:pa#ss@host/", "http://***@host/"),
        ("https://a:b@c@host", "https://***@host"),
        ("see 'HTTPS://u:p@h/m' and http://h/ok", "see 'HTTPS://***@h/m' and http://h/ok"),
        ("https://emergence-app.run.app/api", "https://emergence-app.run.app/api"),
    ],
)
def test_url_credentials_are_hidden_wherever_the_password_breaks_the_url(url, shown):
    assert hide_url_credentials(url) == shown
    assert url_has_credentials(url) == (url != shown)
