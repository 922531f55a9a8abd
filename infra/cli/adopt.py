"""`python -m infra adopt`: compare the hand-made production with the stack, then the steps and
exact commands that take it over.

First it reads the live Cloud Run service through the Admin API (the shared client;
`CLOUD_RUN_API_ENDPOINT` points it at a fake or an emulator) and prints, field by field, what
the first `pulumi up` after the import would change on it (infra/rules/drift.py): env vars and
secret references added, removed or changed, scaling, resources, timeout, concurrency, service
account, probes, ingress, traffic. It stops with exit 1 when adopting would remove an env var
or a secret reference or change the service account, unless `--accept-removals` /
`--accept-service-account` say so, and prints the `pulumi config set ... --stack <stack>`
lines that keep what runs instead. When nothing would change, it says so.

What is imported is read from the program itself: it is evaluated with `adoptExisting: true`
under the mock engine (no credentials, no Pulumi CLI), and every resource carrying an import id
is listed with its type, name and id. `--import-file` also writes the equivalent `pulumi import
--file` document, components included, for teams that prefer to import first and reconcile with
the next `pulumi up`; by default outside the work tree, where it cannot make the clean-tree gate
refuse the deploy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from infra.cli import CommandError

HELP = (
    "Compare the live service with the stack, then print the steps that adopt the hand-made "
    "production (adoptExisting)."
)

STACK_TYPE = "pulumi:pulumi:Stack"
SERVICE_TYPE = "gcp:cloudrunv2/service:Service"
ACCOUNT_TYPE = "gcp:serviceaccount/account:Account"
ACCEPT_FLAGS = {"removal": "--accept-removals", "service account": "--accept-service-account"}


def default_import_file(stack: str) -> Path:
    """Outside the work tree: a file there would make the clean-tree gate refuse prod."""
    return Path(tempfile.gettempdir()) / f"emergence-cloudrun-adopt-{stack}.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="prod", help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--import-file",
        nargs="?",
        const="",
        metavar="PATH",
        help="also write the `pulumi import --file` document for the adopted resources "
        "(default: a file in the system's temporary folder, outside the work tree)",
    )
    parser.add_argument(
        "--accept-removals",
        action="store_true",
        help="adopt even though `pulumi up` would remove env vars or secret refs that run",
    )
    parser.add_argument(
        "--accept-service-account",
        action="store_true",
        help="adopt even though the service would change to the dedicated runtime account",
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
    evaluation: Any,
    settings: Any,
    *,
    bucket: str,
    secrets_provider: str,
    import_file: str,
    accept: str = "",
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
        f"   # expect: {len(adopted)} to import (=), then updates (~) on the service: exactly",
        "   # the changes listed above (Pulumi CLI >= 3.174 imports, then updates in one",
        "   # deployment), and no replacement (+-) anywhere",
        "   Merge: the deploy workflow runs `pulumi up` and verifies the service.",
        "",
        "4. After the first successful deploy, in a follow-up pull request:",
        f"   pulumi config rm {config} --stack {stack}",
        "   (the resources are in the state now; the import ids are no longer needed)",
        "   Then stop deploying by hand (gcloud run deploy): the next `pulumi up` would undo it.",
        "",
        "Alternative to step 3: import with the Pulumi CLI first, then reconcile:",
        f"   python -m infra adopt --stack {stack}{accept} --import-file {import_file}",
        f"   pulumi import --stack {stack} --file {import_file} --protect=false "
        "--generate-code=false",
        f"   pulumi preview --stack {stack} --policy-pack policy --diff   # updates only",
    ]
    return "\n".join(out)


def _import_path(args: argparse.Namespace) -> Path | None:
    """Where to write the import document; refused inside the work tree unless git ignores it."""
    from infra.config import PROJECT_DIR  # noqa: PLC0415
    from infra.preflight.git import dirties_work_tree  # noqa: PLC0415

    if args.import_file is None:
        return None
    path = Path(args.import_file) if args.import_file else default_import_file(args.stack)
    tree = dirties_work_tree(PROJECT_DIR, path)
    if tree is not None:
        raise CommandError(
            f"--import-file {args.import_file}: inside the work tree {tree}, so it would be an "
            "untracked file and the clean-tree gate would refuse `pulumi up` on prod. Fix: "
            f"write it outside (--import-file {default_import_file(args.stack)}, the default "
            "with no PATH), or list it in .gitignore"
        )
    return path


def declared_service(evaluation: Any) -> Any:
    """The service as the program declares it (a preview), the runtime account's email filled
    in from its account id (`<id>@<project>.iam.gserviceaccount.com`, as IAM names it)."""
    from infra.mockrun import UNKNOWN  # noqa: PLC0415
    from infra.rules.drift import declared_view  # noqa: PLC0415

    service = evaluation.one(SERVICE_TYPE).inputs
    view = declared_view(service, service["project"], unknown=lambda v: v is UNKNOWN)
    accounts = evaluation.of_type(ACCOUNT_TYPE)
    if accounts and view.service_account.startswith("("):
        account = accounts[0].inputs
        email = f"{account['accountId']}@{account['project']}.iam.gserviceaccount.com"
        view = dataclasses.replace(view, service_account=email)
    return view


def read_live(settings: Any) -> dict[str, Any]:
    from infra.google.client import GcpApiError, cloud_run_client, describe  # noqa: PLC0415
    from infra.google.cloud_run import CloudRunRevisions, RevisionsApiError, ServiceRef  # noqa: PLC0415

    ref = ServiceRef(settings.project, settings.region, settings.service.name)
    try:
        with cloud_run_client() as client:
            return CloudRunRevisions(client, ref).get_service()
    except RevisionsApiError as exc:
        if exc.cause is not None and exc.cause.status == "NOT_FOUND":
            raise CommandError(
                f"Cloud Run service {ref} does not exist, so there is nothing to adopt. Fix: "
                f"check serviceName, gcp:project and gcp:region of stack '{settings.stack}', or "
                f"deploy it new: pulumi config rm emergence-cloudrun:adoptExisting --stack "
                f"{settings.stack}"
            ) from None
        raise CommandError(describe(exc)) from None
    except GcpApiError as exc:
        raise CommandError(describe(exc)) from None


def render_drift(drift: Any, settings: Any, accepted: set[str]) -> list[str]:
    from infra.rules.drift import summary  # noqa: PLC0415

    stack = settings.stack
    out = [
        f"Live service {settings.service.name} ({settings.project}, {settings.region}) against "
        f"stack '{stack}': what the first `pulumi up` after the import would change on it.",
        "",
    ]
    if drift.matches:
        out.append("  The stack matches the running service: adopting changes nothing on it.")
    for change in drift.changes:
        line = change.line()
        if change.blocking:
            flag = ACCEPT_FLAGS[change.blocking]
            line += "  [accepted]" if change.blocking in accepted else f"  [needs {flag}]"
        out.append(line)
    if drift.notes:
        out += ["", "Decided by `pulumi up` itself:"] + [f"  {note}" for note in drift.notes]
    out += [
        "",
        f"Left alone: {', '.join(drift.ignored)} (gcloud's; the program ignores changes to them).",
    ]
    fixes = drift.fixes()
    if fixes:
        out += ["", "To keep what runs instead, set (then run this command again):"]
        out += [f"  {line}" for line in fixes]
    blocking = drift.blocking(accepted)
    if blocking:
        flags = " ".join(sorted({ACCEPT_FLAGS[c.blocking] for c in blocking}))
        out += [
            "",
            f"Refused: adopting stack '{stack}' {summary(blocking)} (marked [needs ...] above). "
            "Keep what runs with the lines above where the stack can, or accept the change: "
            f"python -m infra adopt --stack {stack} {flags}",
        ]
    return out


def run(args: argparse.Namespace) -> int:
    from infra.config import KEYS_BY_NAME, SettingsError, build_settings  # noqa: PLC0415
    from infra.mockrun import evaluate, placeholder_secrets, stack_config  # noqa: PLC0415
    from infra.rules.drift import compare, live_view  # noqa: PLC0415

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
    path = _import_path(args)  # refused before anything is read or written
    live = live_view(read_live(settings), settings.project)
    drift = compare(live, declared_service(evaluation), stack=args.stack)
    accepted = {
        name
        for name, flag in (
            ("removal", args.accept_removals),
            ("service account", args.accept_service_account),
        )
        if flag
    }
    report = render_drift(drift, settings, accepted)
    if drift.blocking(accepted):
        print("\n".join(report))
        return 1
    document = import_document(evaluation)
    if path is not None:  # written before anything is printed: a failure is one line, no steps
        try:
            path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"--import-file {path}: cannot write it ({exc.strerror or exc}). "
                "Fix: give a path in an existing folder you can write to"
            ) from None
    print("\n".join(report))
    print()
    print(
        render(
            evaluation,
            settings,
            bucket=args.state_bucket or f"{settings.project}-pulumi-state",
            secrets_provider=_secrets_provider(args.stack, settings.project, args.secrets_provider),
            import_file=str(path or default_import_file(args.stack)),
            accept="".join(f" {ACCEPT_FLAGS[name]}" for name in sorted(accepted)),
        )
    )
    if path is not None:
        print(f"\nWrote {path}: {len(document['resources'])} entries.")
    return 0
