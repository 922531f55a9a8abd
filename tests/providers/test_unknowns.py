"""The helpers both dynamic providers use to tell an unknown or changed input."""

from __future__ import annotations

import pulumi
from pulumi.runtime import rpc

from infra.providers.unknowns import changed_inputs, contains_unknown, is_unknown


def test_unknown_values_are_seen_at_any_depth():
    assert is_unknown(rpc.UNKNOWN)
    assert is_unknown(pulumi.output.Unknown())
    assert not is_unknown({"a": rpc.UNKNOWN})  # only the value itself
    assert contains_unknown({"http": {"budget": rpc.UNKNOWN}})
    assert contains_unknown(["a", rpc.UNKNOWN])
    assert not contains_unknown({"checks": ["health /api/health 200"], "n": 3, "x": None})


def test_changed_inputs_compares_values_not_wire_forms():
    olds = {"keep": 3, "pinned": None, "url": "https://a.run.app"}
    same = {"keep": 3.0, "pinned": "", "url": "https://a.run.app"}
    assert changed_inputs(olds, same, ["keep", "pinned", "url"]) == []
    moved = {**same, "url": "https://b.run.app", "pinned": "emergence-app-00001-abc"}
    assert changed_inputs(olds, moved, ["keep", "pinned", "url"]) == ["pinned", "url"]


def test_an_input_not_known_yet_counts_as_changed():
    olds = {"revision": "emergence-app-00001-abc", "checks": ["a"]}
    news = {"revision": rpc.UNKNOWN, "checks": [rpc.UNKNOWN]}
    assert changed_inputs(olds, news, ["revision", "checks"]) == ["revision", "checks"]
    assert changed_inputs(olds, olds, ["revision", "checks", "absent"]) == []
