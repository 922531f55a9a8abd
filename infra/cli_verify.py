"""`python -m infra verify URL`: check a deployed service against the service contract.

Prints one row per check and exits 1 when any check fails (`--json` prints the same as JSON).
"""

from __future__ import annotations

import argparse
import json

from infra.cli import CommandError
from infra.verify import HttpPolicy, run_checks, validate_base_url
from infra.verify_rules import format_table, parse_checks, summary

HELP = (
    "check a deployed service against the contract (health, metrics, auth, docs); exit 1 on failure"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", help="the service's base URL, e.g. https://emergence-app-xyz.run.app"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--check",
        action="append",
        metavar="LINE",
        help="a check line '<name> <path> <status> [<content>] [<field>=<value>]' replacing the "
        "default set (repeat for several)",
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


def run(args: argparse.Namespace) -> int:
    try:
        base_url = validate_base_url(args.url)
        specs = parse_checks(args.check, key="--check") if args.check else parse_checks(None)
        policy = HttpPolicy(read_timeout=args.timeout, attempts=args.attempts, budget=args.budget)
    except ValueError as exc:  # a bad URL, check line or policy value
        raise CommandError(str(exc)) from None

    results = run_checks(base_url, specs, policy=policy)
    passed = all(r.passed for r in results)
    if args.json:
        document = {
            "url": base_url,
            "passed": passed,
            "summary": summary(results),
            "checks": [r.to_dict() for r in results],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Verifying {base_url}")
        print(format_table(results))
        print(("PASS: " if passed else "FAIL: ") + summary(results))
    return 0 if passed else 1
