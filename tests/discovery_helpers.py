"""Check JSON against a Google discovery document shipped in google-api-python-client.

    doc = load_discovery("run.v2")
    problems = schema_problems(doc, "GoogleCloudRunV2Service", service_json)
    assert problems == []

`schema_problems` walks the value and reports every field name the schema does not declare,
every enum value it does not list and every JSON type that does not match (int64 fields are
strings in Google's JSON). Free-form maps (`labels`, `annotations`) are checked only for their
value type; `Any` payloads (an Operation's `metadata`/`response`) are checked against the schema
their `@type` names when that schema is in the document.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"

# `@type` URL -> schema name in the document, for Any payloads.
ANY_TYPES = {
    "type.googleapis.com/google.cloud.run.v2.Revision": "GoogleCloudRunV2Revision",
    "type.googleapis.com/google.cloud.run.v2.Service": "GoogleCloudRunV2Service",
}


@functools.cache
def load_discovery(name: str) -> dict[str, Any]:
    """The discovery document `name` (e.g. "run.v2", "logging.v2")."""
    return json.loads((DOCUMENTS / f"{name}.json").read_text())


def method(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A method's description, e.g. "projects.locations.services.revisions.delete"."""
    node: dict[str, Any] = doc
    *resources, name = dotted.split(".")
    for resource in resources:
        node = node["resources"][resource]
    return node["methods"][name]


def method_path_regex(doc: dict[str, Any], dotted: str) -> re.Pattern[str]:
    """A regex for the URL path of a method (its `flatPath`, parameters as one segment each)."""
    flat = method(doc, dotted)["flatPath"]
    pattern = re.sub(r"\{[^}]+\}", "[^/]+", re.escape(flat).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile("^/" + pattern + "$")


def method_http(doc: dict[str, Any], dotted: str) -> str:
    return method(doc, dotted)["httpMethod"]


def schema_problems(doc: dict[str, Any], schema: str, value: Any, where: str = "$") -> list[str]:
    problems: list[str] = []
    _check(doc, {"$ref": schema}, value, where, problems)
    return problems


_SCALARS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "a string (int64 fields too)"),
    "integer": (int, "an integer"),
    "number": ((int, float), "a number"),
    "boolean": (bool, "a boolean"),
}


def _check(
    doc: dict[str, Any], spec: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if "$ref" in spec:
        spec = doc["schemas"][spec["$ref"]]
    kind = spec.get("type")
    if kind == "any":
        return
    if kind == "array":
        _check_array(doc, spec, value, where, out)
    elif kind == "object":
        _check_object(doc, spec, value, where, out)
    elif kind in _SCALARS:
        _check_scalar(kind, spec, value, where, out)
    else:
        out.append(f"{where}: the schema has an unhandled type {kind!r}")


def _check_array(
    doc: dict[str, Any], spec: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, list):
        out.append(f"{where}: expected an array, got {type(value).__name__}")
        return
    for i, item in enumerate(value):
        _check(doc, spec["items"], item, f"{where}[{i}]", out)


def _check_object(
    doc: dict[str, Any], spec: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, dict):
        out.append(f"{where}: expected an object, got {type(value).__name__}")
        return
    properties = spec.get("properties")
    if properties is not None:
        for key, item in value.items():
            if key in properties:
                _check(doc, properties[key], item, f"{where}.{key}", out)
            else:
                out.append(f"{where}.{key}: not a field of {spec.get('id', 'this object')}")
        return
    extra = spec.get("additionalProperties", {"type": "any"})
    if extra.get("type") != "any":
        for key, item in value.items():
            _check(doc, extra, item, f"{where}.{key}", out)
    elif value.get("@type") in ANY_TYPES:
        rest = {k: v for k, v in value.items() if k != "@type"}
        _check(doc, {"$ref": ANY_TYPES[value["@type"]]}, rest, where, out)


def _check_scalar(kind: str, spec: dict[str, Any], value: Any, where: str, out: list[str]) -> None:
    expected, label = _SCALARS[kind]
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        out.append(f"{where}: expected {label}, got {value!r}")
    elif "enum" in spec and value not in spec["enum"]:
        out.append(f"{where}: {value!r} is not one of {spec['enum']}")
