"""`python -m infra adopt`: the steps and exact commands that take over today's production.

The hand-made service, secret and repository (and the service's allUsers invoker binding) are
imported, not recreated. What is imported is read from the program itself: it is evaluated with
`adoptExisting: true` under the mock engine (no credentials, no Pulumi CLI), and every resource
carrying an import id is listed with its type, name and id. `--import-file` also writes the
equivalent `pulumi import --file` document, components included, for teams that prefer to
import first and reconcile with the next `pulumi up`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from infra.cli import CommandError

HELP = "Print the steps and commands that adopt the hand-made production (adoptExisting)."

STACK_TYPE = "pulumi:pulumi:Stack"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="prod", help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--import-file",
        type=Path,
        metavar="PATH",
        help="also write the `pulumi import --file` document for the adopted resources",
    )
    parser.add_argument(
        "--state-bucket",
        help="GCS bucket holding the Pulumi state (default: <project>-pulumi-state)",
    )
    parser.add_argument(
        "--secrets-provider",
        help="the stack's secrets provider (default: the one in Pulumi.<stack>.yaml, else "
        "gcpkms://projects/<project>/locations/global/keyRings/pulumi/cryptoKeys/state)",
    )


def _key(resource: Any) -> str:
    """A unique name for a resource inside the import document."""
    return f"{resource.type.rsplit(':', 1)[-1]}-{resource.name}"


def import_document(evaluation: Any) -> dict[str, Any]:
    """The `pulumi import --file` document: the imported resources and their components.

    Components are listed as empty `component: true` entries (Pulumi >= 3.94) so that every
    imported resource lands under the same parent, hence the same URN, as the program declares.
    `logicalName` is the resource's name in the program; `name` only keys the document.
    """
    by_urn = {r.urn: r for r in evaluation.resources}
    entries: dict[str, dict[str, Any]] = {}

    def add(resource: Any) -> None:
        parent = by_urn.get(resource.parent) if resource.parent else None
        if parent is not None and parent.type != STACK_TYPE:
            add(parent)
        key = _key(resource)
        if key in entries:
            return
        entry: dict[str, Any] = {"type": resource.type, "name": key, "logicalName": resource.name}
        if resource.custom:
            entry["id"] = resource.import_id
        else:
            entry["component"] = True
        if parent is not None and parent.type != STACK_TYPE:
            entry["parent"] = _key(parent)
        entries[key] = entry

    for resource in sorted(evaluation.resources, key=lambda r: r.urn):
        if resource.import_id:
            add(resource)
    return {"resources": list(entries.values())}


def _secrets_provider(stack: str, project: str, given: str | None) -> str:
    if given:
        return given
    from infra.config import read_stack_file  # noqa: PLC0415

    return read_stack_file(stack).get("secretsprovider") or (
        f"gcpkms://projects/{project}/locations/global/keyRings/pulumi/cryptoKeys/state"
    )


def render(
    evaluation: Any, settings: Any, *, bucket: str, secrets_provider: str, import_file: str
) -> str:
    from infra.rules.adoption import live_checks  # noqa: PLC0415

    stack = evaluation.stack
    adopted = sorted((r for r in evaluation.resources if r.import_id), key=lambda r: r.urn)
    created = sorted(
        (r for r in evaluation.custom() if not r.import_id), key=lambda r: (r.type, r.name)
    )
    config = "emergence-cloudrun:adoptExisting"
    out = [
        f"Adopting the hand-made production into stack '{stack}' "
        f"(project {settings.project}, region {settings.region}).",
        "",
        "Imported (taken over as they are, then updated in place; never recreated):",
    ]
    for r in adopted:
        out += [f"  = {r.name}  [{r.type}]", f"      id: {r.import_id}"]
    out += ["", "Created (new, nothing to adopt):"]
    out += [f"  + {r.name}  [{r.type}]" for r in created]
    out += [
        "",
        "1. Check the live resources (read-only). A mismatch in these fields would make",
        "   `pulumi up` replace the resource instead of updating it:",
    ]
    for check in live_checks(settings):
        out += [f"   # {check.what}; expect {check.expect}", f"   {check.command}"]
    out += [
        "",
        "2. Once: the shared state backend and the stack (README, section Delivery):",
        f"   pulumi login gs://{bucket}",
        f"   pulumi stack init {stack} --secrets-provider='{secrets_provider}'",
        f"   pulumi config set --secret emergence-cloudrun:smtpPassword --stack {stack}"
        "   # prompts; stored encrypted",
        "",
        "3. Adopt in a pull request (the preview comment shows the plan):",
        f"   pulumi config set {config} true --stack {stack}",
        f"   pulumi preview --stack {stack} --policy-pack policy --diff",
        f"   # expect: {len(adopted)} to import (=), updates (~) on the service (new image,",
        "   # runtime service account, env), and no replacement (+-) anywhere",
        "   Merge: the deploy workflow runs `pulumi up` and verifies the service.",
        "",
        "4. After the first successful deploy, in a follow-up pull request:",
        f"   pulumi config rm {config} --stack {stack}",
        "   (the resources are in the state now; the import ids are no longer needed)",
        "   Then stop deploying by hand (gcloud run deploy): the next `pulumi up` would undo it.",
        "",
        "Alternative to step 3: import with the Pulumi CLI first, then reconcile:",
        f"   python -m infra adopt --stack {stack} --import-file {import_file}",
        f"   pulumi import --stack {stack} --file {import_file} --protect=false "
        "--generate-code=false",
        f"   pulumi preview --stack {stack} --policy-pack policy --diff   # updates only",
    ]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from infra.config import KEYS_BY_NAME, SettingsError, build_settings  # noqa: PLC0415
    from infra.mockrun import evaluate, placeholder_secrets, stack_config  # noqa: PLC0415

    password = KEYS_BY_NAME["smtpPassword"]
    try:
        values, secret_values, _ = stack_config(args.stack, {"adoptExisting": True})
        # The password is set during the migration (step 2); the plan never needs its value.
        secrets = placeholder_secrets(secret_values)
        settings = build_settings(
            args.stack, values, secrets_present={*secret_values, password.full}
        )
        evaluation = evaluate(
            args.stack, config={"adoptExisting": True}, secrets=secrets, preview=True
        )
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    if not any(r.import_id for r in evaluation.resources):
        raise CommandError(f"stack '{args.stack}' declares nothing to adopt")
    import_file = str(args.import_file or "adopt.json")
    document = import_document(evaluation)
    if args.import_file is not None:  # written first: a path that fails is one line, no steps
        try:
            args.import_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"--import-file {args.import_file}: cannot write it ({exc.strerror or exc}). "
                "Fix: give a path in an existing folder you can write to"
            ) from None
    print(
        render(
            evaluation,
            settings,
            bucket=args.state_bucket or f"{settings.project}-pulumi-state",
            secrets_provider=_secrets_provider(args.stack, settings.project, args.secrets_provider),
            import_file=import_file,
        )
    )
    if args.import_file is not None:
        print(f"\nWrote {args.import_file}: {len(document['resources'])} entries.")
    return 0
