"""`python -m infra verify [URL]`: check a deployed service against the service contract.

The HTTP checks come from the stack's `verifyChecks` setting (the contract by default) or from
`--check`. When the Cloud Run Admin API can be reached (Google credentials, or
`CLOUD_RUN_API_ENDPOINT` pointing at a fake or an emulator), three more checks run: 100% of the
traffic on the expected revision, no Cloud Run service in the region but the stack's (and
`verifyAllowedServices`), at most `revisionsToKeep` revisions. Without a URL, the service's URL
is read from the Admin API. Prints one row per check; exits 1 when any check fails (`--json`
prints the same for machines).
"""

from __future__ import annotations

import argparse
import json

from infra.cli import CommandError
from infra.config import Settings, SettingsError, load_stack_settings
from infra.google.client import CredentialsError, GcpApiError, cloud_run_client, describe
from infra.probes.verify import (
    AdminTarget,
    HttpPolicy,
    invoker_headers,
    run_admin_checks,
    run_checks,
    validate_base_url,
)
from infra.rules.checks import CheckResult, format_table, parse_checks, summary
from infra.rules.retention import short_name

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
        "--timeout", type=float, default=20.0, help="read timeout per request, seconds (20)"
    )
    parser.add_argument(
        "--attempts", type=int, default=4, help="tries per check on connection errors and 429/5xx"
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per check, retries included (60)"
    )


def _admin(settings: Settings, want: bool) -> tuple[list[CheckResult], str, str]:
    """(results, the service URL the API reports ("" if none), a note: "ran", or why the checks
    did not run, or why the service's URL could not be read)."""
    if not want:
        return [], "", "skipped (--no-admin)"
    target = AdminTarget(
        project=settings.project,
        region=settings.region,
        service=settings.service.name,
        revisions_to_keep=settings.retention.revisions_to_keep,
        expected_revision=settings.rollback_revision,
        pinned_revision=settings.rollback_revision,
        allowed_services=settings.verify_allowed_services,
    )
    try:
        with cloud_run_client() as client:
            report = run_admin_checks(client, target)
    except CredentialsError as exc:
        return [], "", f"skipped: {describe(exc)}"
    except GcpApiError as exc:  # e.g. a malformed CLOUD_RUN_API_ENDPOINT
        raise CommandError(describe(exc)) from None
    uri = str((report.service or {}).get("uri") or "")
    if report.service_error:
        return report.results, "", f"ran, but could not read the service: {report.service_error}"
    return report.results, uri, "ran"


def _policy(args: argparse.Namespace) -> HttpPolicy:
    """The HTTP policy from --timeout/--attempts/--budget; CommandError naming a bad flag."""
    if args.attempts < 1:
        raise CommandError(f"--attempts must be at least 1, got {args.attempts}")
    for flag, value in (("--timeout", args.timeout), ("--budget", args.budget)):
        if not 0 < value < float("inf"):
            raise CommandError(f"{flag} must be a number of seconds above 0, got {value:g}")
    return HttpPolicy(read_timeout=args.timeout, attempts=args.attempts, budget=args.budget)


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

    admin_results, api_uri, admin_note = _admin(settings, want=not args.no_admin)
    if base_url is None:
        if not api_uri:
            raise CommandError(
                f"no URL given and the Admin API did not give {settings.service.name}'s URL "
                f"(Admin API checks: {admin_note}). Pass the URL: python -m infra verify URL"
            )
        base_url = validate_base_url(api_uri)

    headers = None
    if settings.service.public_access == "private":
        try:
            headers = invoker_headers(base_url)
        except Exception as exc:  # noqa: BLE001 - google-auth's errors, as one line
            raise CommandError(
                f"{settings.service.name} is private (publicAccess=private) and no Google ID "
                f"token could be had for {base_url}: {describe(exc)}. Use a service account "
                "(GOOGLE_APPLICATION_CREDENTIALS) with roles/run.invoker"
            ) from None
    results = run_checks(base_url, specs, policy=policy, headers=headers) + admin_results
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
        print(f"Verifying {settings.service.name} at {base_url} (stack {settings.stack})")
        print(format_table(results))
        if admin_note != "ran":
            print(f"Admin API checks (traffic on {expected}, services, revisions): {admin_note}")
        print(("PASS: " if passed else "FAIL: ") + summary(results))
    return 0 if passed else 1
