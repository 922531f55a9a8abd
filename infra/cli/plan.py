"""`python -m infra plan`: what `pulumi up` would declare, without credentials or the CLI.

The program runs under Pulumi's mock engine in preview mode: every resource, its type and key
settings are printed; values only a real deploy knows (digest, URL) show as unknown; secrets
are masked. The text fits in `WIDTH` columns (but for a single word longer than that, such as
an image name): a long value is wrapped, one too long to read
there (a dashboard's JSON) is summarised, and the engine's own inputs (`__provider`, the
pickled code of a dynamic provider) are left out; `--json` has every value whole, without
those engine inputs unless `--internals`.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Iterator
from typing import Any

from infra.cli import CommandError
from infra.mockrun import UNKNOWN, lookup
from infra.rules.terminal import printable

HELP = "Show what `pulumi up` would declare for a stack (mock engine, no cloud access)."

MASK = "[secret]"
WIDTH = 100  # columns of the text output
SUMMARY_LINES = 6  # a value that would wrap to more lines than this is summarised
ENGINE_PREFIX = "__"  # inputs the engine adds (a dynamic provider's pickled code)

# The settings worth a glance, per resource type (dotted input paths). --all prints every input.
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "gcp:projects/service:Service": ("service", "disableOnDestroy"),
    "gcp:artifactregistry/repository:Repository": (
        "repositoryId",
        "location",
        "format",
        "cleanupPolicyDryRun",
        "cleanupPolicies",
    ),
    "gcp:serviceaccount/account:Account": ("accountId", "displayName"),
    "gcp:projects/iAMMember:IAMMember": ("role", "member"),
    "gcp:secretmanager/secret:Secret": ("secretId", "replication"),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secretData", "deletionPolicy"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId", "role", "member"),
    "docker-build:index:Image": (
        "tags",
        "platforms",
        "context.location",
        "cacheFrom",
        "cacheTo",
        "buildOnPreview",
        "push",
        "registries",
    ),
    "gcp:cloudrunv2/service:Service": (
        "name",
        "location",
        "deletionProtection",
        "invokerIamDisabled",
        "template.containers.0.image",
        "template.containers.0.envs",
        "template.containers.0.resources.limits",
        "template.containers.0.startupProbe.httpGet.path",
        "template.containers.0.livenessProbe.httpGet.path",
        "template.serviceAccount",
        "template.scaling",
        "template.maxInstanceRequestConcurrency",
        "template.timeout",
        "traffics",
    ),
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("name", "role", "member"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="prod", help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--all", action="store_true", help="print every input, not the key ones")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--internals",
        action="store_true",
        help="with --json: keep the engine's own inputs (__provider: a dynamic provider's "
        "pickled code, base64)",
    )


def _masked(value: Any, path: str, secret_paths: frozenset[str]) -> Any:
    if path in secret_paths:
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, f"{path}.{i}", secret_paths) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers cross the wire as floats
    return value


def _text(value: Any) -> str:
    if isinstance(value, str) or value is UNKNOWN:
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _summary(value: Any, text: str) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:3]) + (", ..." if len(value) > 3 else "")
        what = f"a JSON object of {len(text):,} characters ({keys})"
    elif isinstance(value, list):
        items = "1 item" if len(value) == 1 else f"{len(value)} items"
        what = f"a list of {items}, {len(text):,} characters"
    else:
        what = f"{len(text):,} characters"
    return f"({what}; python -m infra plan --json shows it whole)"


def _fitted(label: str, value: Any, indent: str) -> list[str]:
    """`label = value` (or `label: value`) in at most WIDTH columns: wrapped under itself, or
    summarised when it would take more than SUMMARY_LINES lines."""
    text = _text(value)
    first = f"{indent}{label}"
    if len(first) + len(text) <= WIDTH:
        return [first + text]
    hanging = indent + "    "
    lines = textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=hanging,
        break_long_words=False,  # an image name stays whole, to be copied
        break_on_hyphens=False,
        drop_whitespace=False,
    )
    if len(lines) <= SUMMARY_LINES:
        return [line.rstrip() for line in lines]
    return textwrap.wrap(first + _summary(value, text), width=WIDTH, subsequent_indent=hanging)


def _engine_input(path: str) -> bool:
    return path.split(".", 1)[0].startswith(ENGINE_PREFIX)


def _lines(resource: Any, everything: bool, indent: str = "") -> Iterator[str]:
    inputs = _masked(resource.inputs, "", resource.secret_inputs)
    if everything or resource.type not in KEY_INPUTS:
        paths = sorted(inputs) if resource.custom else []
    else:
        paths = list(KEY_INPUTS[resource.type])
    for path in paths:
        if _engine_input(path):
            continue
        node = lookup(inputs, path)
        if node is not None:
            yield from _fitted(f"{path} = ", node, indent)


def render(evaluation: Any, everything: bool = False) -> str:
    by_urn = {r.urn: r for r in evaluation.resources}
    children: dict[str | None, list[Any]] = {}
    for r in evaluation.resources:
        parent = r.parent if r.parent in by_urn else None
        children.setdefault(parent, []).append(r)
    out = [
        f"Plan for stack '{evaluation.stack}': what `pulumi up` would declare "
        f"({len(evaluation.custom())} resources).",
        "Evaluated with Pulumi's mock engine; nothing was deployed.",
    ]
    for warning in evaluation.warnings:
        for number, paragraph in enumerate(str(warning).splitlines()):
            out += textwrap.wrap(
                paragraph,
                width=WIDTH,
                initial_indent="warning: " if number == 0 else "  ",
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda r: (r.type, r.name)):
            indent = "  " * depth
            kind = "" if r.custom else " (component)"
            out.append(f"{indent}+ {r.name}  [{r.type}]{kind}")
            out.extend(_lines(r, everything, indent + "    "))
            walk(r.urn, depth + 1)

    out.append("")
    walk(None, 0)
    out.append("")
    out.append("Outputs:")
    for name, value in sorted(evaluation.outputs.items()):
        shown = MASK if name in evaluation.secret_outputs else value
        out.extend(_fitted(f"{name}: ", shown, "  "))
    return "\n".join(out)


def _without_engine_inputs(inputs: Any) -> Any:
    return {k: v for k, v in inputs.items() if not k.startswith(ENGINE_PREFIX)}


def _json_inputs(resource: Any, internals: bool) -> Any:
    inputs = _masked(resource.inputs, "", resource.secret_inputs)
    return inputs if internals else _without_engine_inputs(inputs)


def as_json(evaluation: Any, internals: bool = False) -> str:
    return json.dumps(
        {
            "stack": evaluation.stack,
            "warnings": evaluation.warnings,
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "urn": r.urn,
                    "custom": r.custom,
                    "parent": r.parent,
                    "inputs": _json_inputs(r, internals),
                }
                for r in sorted(evaluation.resources, key=lambda r: r.urn)
            ],
            "outputs": {
                k: MASK if k in evaluation.secret_outputs else v
                for k, v in evaluation.outputs.items()
            },
        },
        indent=2,
        ensure_ascii=False,
        default=str,
    )


def run(args: argparse.Namespace) -> int:
    from infra.config import PROJECT, SettingsError  # noqa: PLC0415
    from infra.mockrun import REAL_GIT, evaluate, placeholder_secrets, stack_config  # noqa: PLC0415

    try:
        _, secret_values, _ = stack_config(args.stack)
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    missing = placeholder_secrets(secret_values)
    try:
        evaluation = evaluate(
            args.stack, secrets=missing, preview=True, git=REAL_GIT, app_git=REAL_GIT
        )
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    evaluation.warnings.extend(
        f"{name} is not set in Pulumi.{args.stack}.yaml; planned with a placeholder.\n"
        f"`pulumi up` needs it: pulumi config set --secret {PROJECT}:{name} --stack {args.stack}"
        for name in missing
    )
    if args.internals and not args.json:
        raise CommandError("--internals goes with --json (the text output never shows them)")
    text = as_json(evaluation, args.internals) if args.json else render(evaluation, args.all)
    print(printable(text, newlines=True, json=args.json))
    return 0
