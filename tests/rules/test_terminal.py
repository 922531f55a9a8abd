"""infra.rules.terminal.printable: what untrusted text may put on a terminal."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from infra.rules.terminal import printable

UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)


def test_escape_sequences_are_shown_not_obeyed():
    text = "\x1b]0;title\x07\x1b[2J\x1b[31mred\x9b1m\u202eevil\rover\x08"
    assert printable(text) == (
        "\\x1b]0;title\\x07\\x1b[2J\\x1b[31mred\\x9b1m\\u202eevil\\x0dover\\x08"
    )


def test_accents_tabs_and_ordinary_text_are_kept():
    assert printable("ÉMERGENCE\tdurée=1.2s ✓ 数据") == "ÉMERGENCE\tdurée=1.2s ✓ 数据"


def test_newlines_only_when_asked_and_crlf_as_a_newline():
    assert printable("a\nb") == "a\\x0ab"
    assert printable("a\r\nb\rc", newlines=True) == "a\nb\\x0dc"


def test_a_lone_surrogate_is_escaped_so_printing_cannot_fail():
    shown = printable("x\udcff")
    assert shown == "x\\udcff"
    shown.encode("utf-8")  # would raise UnicodeEncodeError before


@given(st.text())
def test_nothing_unsafe_survives(text):
    assert not UNSAFE.search(printable(text))
    assert not UNSAFE.search(printable(text, newlines=True).replace("\n", ""))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))))
def test_safe_text_is_unchanged(text):
    assert printable(text) == text


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_mode_keeps_a_document_valid_and_equal(document):
    text = json.dumps(document, ensure_ascii=False, indent=2)
    shown = printable(text, json=True)
    assert not UNSAFE.search(shown.replace("\n", ""))
    assert json.loads(shown) == document
