"""Count the Cloud Run Admin API calls one retention run makes for 10, 100 and 1,000 revisions.

Goal: list pages + deletions + operation polls (+ one GET of the service), nothing per revision
beyond its delete. Runs the retention code (`infra.providers.retention.run_retention`, what the
dynamic provider runs at `pulumi up`) against the fake Cloud Run API (tests/fakes/cloud_run.py): all
revisions Ready, 100% on the latest, revisionsToKeep=3, each delete operation done after one poll
(real Cloud Run may need a few: each extra poll is one more call per deleted revision). Prints the
counts from the fake's request log and the client's counter, which must agree.

    .venv/bin/python bench/retention_api_calls.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.google.client import GoogleApiClient
from infra.google.cloud_run import LIST_PAGE_SIZE, CloudRunRevisions, ServiceRef
from infra.providers.retention import run_retention
from tests.fakes.cloud_run import FakeCloudRun

SERVICE = "emergence-app"
KEEP = 3


def measure(revisions: int, *, dry_run: bool = False, polls: int = 1) -> dict[str, int | float]:
    with FakeCloudRun(operation_polls=polls) as fake:
        fake.deploy_many(SERVICE, ["ready"] * revisions)
        client = GoogleApiClient(fake.url, sleep=lambda _s: None)
        api = CloudRunRevisions(client, ServiceRef(fake.project, fake.location, SERVICE))
        started = time.perf_counter()
        report = run_retention(api, KEEP, dry_run=dry_run)
        elapsed = time.perf_counter() - started
        figures = {
            "revisions": revisions,
            "service_get": fake.count("GET", f"/services/{SERVICE}")
            - fake.count("GET", "/revisions"),
            "list_pages": fake.count("GET", "/revisions"),
            "deletes": fake.count("DELETE"),
            "polls": fake.count("GET", "/operations/"),
            "total": fake.count(),
            "client_counter": client.request_count,
            "report_api_calls": report.api_calls,
            "left": len(fake.revision_ids(SERVICE)),
            "seconds": round(elapsed, 2),
        }
        fake.clear_log()
        run_retention(api, KEEP, dry_run=dry_run)
        figures["second_run_total"] = fake.count()
        return figures


def main() -> int:
    print(
        f"retention API calls (revisionsToKeep={KEEP}, list pageSize={LIST_PAGE_SIZE}, "
        "1 poll per delete operation, fake Cloud Run on loopback)"
    )
    header = (
        f"{'revisions':>9} {'service':>7} {'pages':>5} {'deletes':>7} {'polls':>5} "
        f"{'total':>6} {'expected':>8} {'left':>4} {'2nd run':>7} {'seconds':>7}"
    )
    print(header)
    ok = True
    for n in (10, 100, 1000):
        f = measure(n)
        expected = 1 + max(1, math.ceil(n / LIST_PAGE_SIZE)) + 2 * (n - KEEP)
        ok &= f["total"] == f["client_counter"] == f["report_api_calls"] == expected
        print(
            f"{n:>9} {f['service_get']:>7} {f['list_pages']:>5} {f['deletes']:>7} "
            f"{f['polls']:>5} {f['total']:>6} {expected:>8} {f['left']:>4} "
            f"{f['second_run_total']:>7} {f['seconds']:>7}"
        )
    dry = measure(1000, dry_run=True)
    print(f"dry run, 1000 revisions: {dry['total']} calls ({dry['list_pages']} pages, 0 deletes)")
    slow_ops = measure(100, polls=3)
    print(f"100 revisions, 3 polls per operation: {slow_ops['total']} calls")
    print("counts match the formula 1 + pages + 2 x deletions:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
