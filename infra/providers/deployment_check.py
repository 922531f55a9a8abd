"""`DeploymentCheck`: a Pulumi dynamic resource that runs the post-deploy checks inside `pulumi up`.

It takes the deployed service's URL, latest ready revision and image digest as inputs, so it
runs after the service, and runs again exactly when one of its trigger inputs changes (a new
revision, a new image, another rollback target, other checks, the switch). `diff` is pure and
`create`/`update` run only during an update, never in a preview. When a check fails, the
update fails with the report, the previous ready revision and the exact commands to roll back.

Inputs (wire names): enabled, stack, project, region, serviceName, url, revision, imageDigest,
expectedRevision, checks, adminApi, allowedServices, revisionsToKeep, revisionSlack, http,
invokerToken (true for a private service: the checks carry a Google ID token).
Outputs: the inputs, plus passed (None when switched off), skipped, summary, results,
verifiedRevision (the last revision that passed), previousRevision and checkedAt.

The provider object is pickled into the state (dill): it holds no session, client or token;
each method builds what it needs and closes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ResourceProvider,
    UpdateResult,
)

from infra.google.client import GcpApiError, cloud_run_client, describe
from infra.probes import verify
from infra.probes.verify import AdminTarget, HttpPolicy, run_admin_checks, run_checks
from infra.providers.unknowns import changed_inputs, contains_unknown
from infra.rules.checks import CheckResult as Result
from infra.rules.checks import (
    CheckSpecError,
    format_table,
    parse_checks,
    previous_ready_revision,
    rollback_advice,
    summary,
)
from infra.rules.retention import short_name

TRIGGERS = (
    "enabled",
    "url",
    "revision",
    "imageDigest",
    "expectedRevision",
    "checks",
    "adminApi",
    "allowedServices",
    "revisionsToKeep",
    "invokerToken",
)
OUTPUTS = (
    "passed",
    "skipped",
    "summary",
    "results",
    "verifiedRevision",
    "previousRevision",
    "checkedAt",
)
SWITCH = "emergence-cloudrun:verifyDeployment"


class DeploymentCheckFailed(Exception):
    """The deployed service broke the contract; the message is the whole report."""


def changed_triggers(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The trigger inputs that differ (an input not known yet, as in a preview, counts)."""
    return changed_inputs(olds, news, TRIGGERS)


def http_policy(props: Mapping[str, Any]) -> HttpPolicy:
    """The HTTP policy from the `http` input (numbers arrive as floats over the wire)."""
    raw = props.get("http") or {}
    defaults = HttpPolicy()
    return HttpPolicy(
        connect_timeout=float(raw.get("connectTimeout", defaults.connect_timeout)),
        read_timeout=float(raw.get("readTimeout", defaults.read_timeout)),
        attempts=int(raw.get("attempts", defaults.attempts)),
        backoff=float(raw.get("backoff", defaults.backoff)),
        backoff_max=float(raw.get("backoffMax", defaults.backoff_max)),
        budget=float(raw.get("budget", defaults.budget)),
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _admin_report(props: Mapping[str, Any]) -> tuple[list[Result], list[dict] | None]:
    expected = props.get("expectedRevision") or props.get("revision") or None
    target = AdminTarget(
        project=str(props["project"]),
        region=str(props["region"]),
        service=str(props["serviceName"]),
        revisions_to_keep=int(props.get("revisionsToKeep") or 3),
        expected_revision=short_name(expected) or None,
        pinned_revision=props.get("expectedRevision") or None,
        allowed_services=tuple(props.get("allowedServices") or ()),
        revision_slack=int(props.get("revisionSlack") or 0),
    )
    try:
        with cloud_run_client() as client:
            report = run_admin_checks(client, target)
    except GcpApiError as exc:  # no credentials, or a bad CLOUD_RUN_API_ENDPOINT: say why
        failed = Result("admin-api", "Cloud Run Admin API", False, None, None, describe(exc))
        return [failed], None
    return report.results, report.revisions


def verify_deployment(props: Mapping[str, Any], last_verified: str | None) -> dict[str, Any]:
    """Run the checks for `props`; the outputs on success, DeploymentCheckFailed otherwise."""
    inputs = {k: v for k, v in props.items() if not k.startswith("__") and k not in OUTPUTS}
    revision = short_name(props.get("revision"))
    if not props.get("enabled", True):
        return {
            **inputs,
            "passed": None,
            "skipped": True,
            "summary": f"skipped: {SWITCH} is false",
            "results": [],
            "verifiedRevision": last_verified or "",
            "previousRevision": "",
            "checkedAt": _now(),
        }
    specs = parse_checks(props.get("checks") or None)
    url = str(props["url"])
    headers = None
    if props.get("invokerToken"):  # a private service: checks need an ID token to get through
        try:
            headers = verify.invoker_headers(url)
        except Exception as exc:  # noqa: BLE001 - any failure to get a token fails the gate
            reason = f"no ID token to call the private service: {describe(exc)}"
            token = Result("invoker-token", url, False, None, None, reason)
            raise DeploymentCheckFailed(failure_report(props, [token], last_verified)) from None
    results = run_checks(url, specs, policy=http_policy(props), headers=headers)
    revisions = None
    if props.get("adminApi"):
        admin_results, revisions = _admin_report(props)
        results.extend(admin_results)
    if revisions is not None:
        previous = previous_ready_revision(revisions, revision, last_verified)
    else:
        previous = last_verified if last_verified and last_verified != revision else None
    passed = all(r.passed for r in results)
    if not passed:
        raise DeploymentCheckFailed(failure_report(props, results, previous))
    return {
        **inputs,
        "passed": True,
        "skipped": False,
        "summary": f"{summary(results)} on {revision or 'the service'}",
        "results": [r.to_dict() for r in results],
        "verifiedRevision": revision,
        "previousRevision": previous or "",
        "checkedAt": _now(),
    }


def failure_report(props: Mapping[str, Any], results: list[Result], previous: str | None) -> str:
    """What a failed gate prints: what was checked, every result, how to roll back."""
    stack = props.get("stack") or None
    flag = f" --stack {stack}" if stack else ""
    revision = short_name(props.get("revision")) or "(unknown revision)"
    digest = str(props.get("imageDigest") or "").rsplit("@", 1)[-1]
    keep = props.get("revisionsToKeep")
    lines = [
        f"post-deploy verification failed for {props.get('serviceName')} revision {revision}"
        + (f" (image {digest})" if digest else "")
        + f" at {props.get('url')}: {summary(results)}",
        "",
        format_table(results),
        "",
        rollback_advice(previous, stack, int(keep) if keep is not None else None),
        "",
        "The new revision may be serving traffic now. To deploy without this gate in an "
        f"emergency: pulumi config set{flag} {SWITCH} false",
    ]
    return "\n".join(lines)


class DeploymentCheckProvider(ResourceProvider):
    """create/update run the checks; diff says when; delete has nothing to undo."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        checks = news.get("checks")
        if not contains_unknown(checks):
            try:
                parse_checks(checks or None)
            except CheckSpecError as exc:
                failures.append(CheckFailure("checks", str(exc)))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_triggers(olds, news)
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = verify_deployment(props, last_verified=None)
        return CreateResult(
            id_=f"{props.get('serviceName', 'service')}-deployment-check", outs=outs
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        last = olds.get("verifiedRevision") or None
        return UpdateResult(outs=verify_deployment(news, last_verified=last))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: a check leaves nothing behind."""


class DeploymentCheck(pulumi.dynamic.Resource, module="verification", name="DeploymentCheck"):
    """Runs the post-deploy checks; `props` uses the wire names listed in the module docstring."""

    # Outputs keep their wire names as attribute names (dynamic resources do not translate).
    passed: pulumi.Output[bool | None]
    skipped: pulumi.Output[bool]
    summary: pulumi.Output[str]
    results: pulumi.Output[list]
    verifiedRevision: pulumi.Output[str]
    previousRevision: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        wire = dict(props)
        for key in OUTPUTS:
            wire.setdefault(key, None)  # declared so that they become output properties
        super().__init__(DeploymentCheckProvider(), name, wire, opts)
