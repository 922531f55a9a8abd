"""`python -m infra verify [URL]`: check a deployed service against the service contract.

The HTTP checks come from the stack's `verifyChecks` setting (the contract by default) or from
`--check`. When the Cloud Run Admin API can be reached (Google credentials, or
`CLOUD_RUN_API_ENDPOINT` pointing at a fake or an emulator), three more checks run: 100% of the
traffic on the expected revision, no Cloud Run service in the region but the stack's (and
`verifyAllowedServices`), at most `revisionsToKeep` revisions. Without a URL, the service's URL
is read from the Admin API. Prints one row per check as soon as it finishes; exits 1 when any
check fails (`--json` prints the same for machines, at the end).

Bounds: each HTTP check ends within `--budget` seconds (retries included) whatever the peer
does, and reads at most 2 MiB of body; a refused connection is not retried (the gate in
`pulumi up` does retry it briefly, see infra/probes/verify.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from infra.cli import CommandError
from infra.config import Settings, SettingsError, load_stack_settings
from infra.google.client import CredentialsError, GcpApiError, cloud_run_client, describe
from infra.probes.verify import (
    MAX_ATTEMPTS,
    MAX_BUDGET_SECONDS,
    MAX_TIMEOUT_SECONDS,
    AdminTarget,
    HttpPolicy,
    invoker_headers,
    run_admin_checks,
    run_checks,
    validate_base_url,
)
from infra.rules.checks import CheckResult, CheckSpec, Table, parse_checks, summary
from infra.rules.retention import short_name
from infra.rules.terminal import printable

OnResult = Callable[[CheckResult], None] | None

HELP = "Check a deployed service against the contract (HTTP + Admin API); exit 1 on a failure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        nargs="?",
        help="the service's base URL (default: the service's URL, read from the Admin API)",
    )
    parser.add_argument("--stack", default="prod", help="stack whose settings to use (prod)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--check",
        action="append",
        metavar="LINE",
        help="a check line '<name> <path> <status> [<content>] [<field>=<value>]' used instead "
        "of the stack's verifyChecks (repeat for several)",
    )
    parser.add_argument(
        "--no-admin", action="store_true", help="skip the Cloud Run Admin API checks"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help=f"read timeout per request, seconds (20; at most {MAX_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=4,
        help=f"tries per check on connection errors and 429/5xx (4; at most {MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help=f"seconds per check, retries included (60; at most {MAX_BUDGET_SECONDS:g})",
    )


def _admin_target(settings: Settings) -> AdminTarget:
    return AdminTarget(
        project=settings.project,
        region=settings.region,
        service=settings.service.name,
        revisions_to_keep=settings.retention.revisions_to_keep,
        expected_revision=settings.rollback_revision,
        pinned_revision=settings.rollback_revision,
        allowed_services=settings.verify_allowed_services,
    )


def _admin(
    settings: Settings, want: bool, on_result: OnResult = None
) -> tuple[list[CheckResult], str, str]:
    """(results, the service URL the API reports ("" if none), a note: "ran", or why the checks
    did not run, or why the service's URL could not be read)."""
    if not want:
        return [], "", "skipped (--no-admin)"
    try:
        with cloud_run_client() as client:
            report = run_admin_checks(client, _admin_target(settings), on_result=on_result)
    except CredentialsError as exc:
        return [], "", f"skipped: {describe(exc)}"
    except GcpApiError as exc:  # e.g. a malformed CLOUD_RUN_API_ENDPOINT
        raise CommandError(describe(exc)) from None
    uri = str((report.service or {}).get("uri") or "")
    if report.service_error:
        return report.results, "", f"ran, but could not read the service: {report.service_error}"
    return report.results, uri, "ran"


def _policy(args: argparse.Namespace) -> HttpPolicy:
    """The HTTP policy from --timeout/--attempts/--budget; CommandError naming a bad flag.

    A refused connection is not retried here: nothing listens on that port, and a person
    learns that at once instead of after the backoff (the gate in `pulumi up` retries it)."""
    if not 1 <= args.attempts <= MAX_ATTEMPTS:
        raise CommandError(
            f"--attempts must be at least 1 and at most {MAX_ATTEMPTS}, got {args.attempts}"
        )
    limits = (
        ("--timeout", args.timeout, MAX_TIMEOUT_SECONDS),
        ("--budget", args.budget, MAX_BUDGET_SECONDS),
    )
    for flag, value, limit in limits:
        if not 0 < value <= limit:  # NaN fails too
            raise CommandError(
                f"{flag} must be a number of seconds above 0 and at most {limit:g}, got {value:g}"
            )
    return HttpPolicy(
        read_timeout=args.timeout,
        attempts=args.attempts,
        budget=args.budget,
        retry_refused=False,
    )


def _say(line: str) -> None:
    print(line, flush=True)


def _private_headers(settings: Settings, base_url: str) -> dict[str, str] | None:
    if settings.service.public_access != "private":
        return None
    try:
        return invoker_headers(base_url)
    except Exception as exc:  # noqa: BLE001 - google-auth's errors, as one line
        raise CommandError(
            f"{settings.service.name} is private (publicAccess=private) and no Google ID "
            f"token could be had for {base_url}: {describe(exc)}. Use a service account "
            "(GOOGLE_APPLICATION_CREDENTIALS) with roles/run.invoker"
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_stack_settings(args.stack, supplied_secrets=["smtpPassword"])
        specs = parse_checks(args.check, key="--check") if args.check else None
        specs = specs or parse_checks(list(settings.verify_checks))
        policy = _policy(args)
        base_url = validate_base_url(args.url) if args.url else None
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:  # a bad URL, check line or policy value
        raise CommandError(str(exc)) from None

    want_admin = not args.no_admin
    table = _table(specs, _admin_target(settings) if want_admin else None)
    show: OnResult = None if args.json else (lambda result: _say(table.row(result)))

    if base_url is None:
        # The URL comes from the Admin API: its checks run first, their rows are shown after.
        if not args.json:
            _say(f"Reading {settings.service.name}'s URL from the Cloud Run Admin API")
        admin_results, api_uri, admin_note = _admin(settings, want_admin)
        if not api_uri:
            raise CommandError(
                f"no URL given and the Admin API did not give {settings.service.name}'s URL "
                f"(Admin API checks: {admin_note}). Pass the URL: python -m infra verify URL"
            )
        try:
            base_url = validate_base_url(api_uri)
        except ValueError as exc:
            raise CommandError(f"the URL the Admin API gives is unusable: {exc}") from None
        headers = _private_headers(settings, base_url)
        _heading(args, settings, base_url, policy, table)
        results = run_checks(base_url, specs, policy=policy, headers=headers, on_result=show)
        for result in admin_results if show is not None else ():
            show(result)
    else:
        headers = _private_headers(settings, base_url)
        _heading(args, settings, base_url, policy, table)
        results = run_checks(base_url, specs, policy=policy, headers=headers, on_result=show)
        admin_results, _, admin_note = _admin(settings, want_admin, on_result=show)
    results += admin_results

    passed = all(r.passed for r in results)
    if args.json:
        document = {
            "url": base_url,
            "stack": settings.stack,
            "service": settings.service.name,
            "passed": passed,
            "summary": summary(results),
            "admin": admin_note,
            "checks": [r.to_dict() for r in results],
        }
        print(json.dumps(document, indent=2))
    else:
        expected = short_name(settings.rollback_revision) or "the latest ready revision"
        if admin_note != "ran":
            note = printable(admin_note)
            _say(f"Admin API checks (traffic on {expected}, services, revisions): {note}")
        _say(("PASS: " if passed else "FAIL: ") + summary(results))
    return 0 if passed else 1


def _table(specs: tuple[CheckSpec, ...], admin: AdminTarget | None) -> Table:
    rows = [(spec.name, spec.path) for spec in specs]
    return Table(rows + (admin.rows() if admin is not None else []))


def _heading(
    args: argparse.Namespace, settings: Settings, base_url: str, policy: HttpPolicy, table: Table
) -> None:
    if args.json:
        return
    _say(
        f"Verifying {settings.service.name} at {printable(base_url)} (stack {settings.stack}); "
        f"each check ends within {policy.budget:g} s"
    )
    _say(table.header())
    sys.stdout.flush()
