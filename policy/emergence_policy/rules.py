"""The deployment guide's rules as Pulumi policies: one small validator per policy.

The pack judges any stack from its resources alone: it never imports the program (`infra/`),
so a mistake in the program cannot hide itself from the policy that should catch it.

Every validator reads properties through `props.get` and friends inside `with unknowns:`, so a
value that is not known during `pulumi preview` is never a violation: the known values are
judged, then the first unknown one is re-raised for pulumi-policy to report as an advisory
"can't run policy ... during preview". The same policies run again at `pulumi up`, with values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import config
from .props import (
    Key,
    Unknowns,
    get,
    has_key,
    is_list,
    is_mapping,
    length,
    present,
    stack_of,
    text,
    whole_number,
)

# Resource types (pulumi-gcp 10 / pulumi-docker 4+ tokens).
SERVICE_V2 = "gcp:cloudrunv2/service:Service"
SERVICE_V1 = "gcp:cloudrun/service:Service"
SERVICE_TYPES = frozenset({SERVICE_V2, SERVICE_V1})
REPOSITORY = "gcp:artifactregistry/repository:Repository"
DOCKER_IMAGE = "docker:index/image:Image"
DOCKER_BUILD_IMAGE = "docker-build:index:Image"

# The revision retention is a Pulumi dynamic resource: RevisionRetention of
# infra/providers/retention.py (type below), or any dynamic resource whose input `kind` is
# RETENTION_KIND. Its input (and echoed output) `revisionsToKeep` is the number of Cloud Run
# revisions it keeps.
RETENTION_TYPE = "pulumi-python:dynamic/retention:RevisionRetention"
RETENTION_KIND = "emergence:revision-retention"
DYNAMIC_PACKAGES = frozenset({"pulumi-python", "pulumi-nodejs"})

REQUIRED_PLATFORM = "linux/amd64"
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 (a role name)
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PROJECT_WIDE_MODULES = frozenset({"projects", "organizations", "folder"})

DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAME_RE = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
DEFAULT_ACCOUNT_RE = re.compile(
    r"^(\d+-compute@developer\.gserviceaccount\.com|[^@]+@appspot\.gserviceaccount\.com)$"
)
MAX_SCALE_ANNOTATION = "autoscaling.knative.dev/maxScale"

MANDATORY = EnforcementLevel.MANDATORY


# --- the shapes of the two Cloud Run service APIs -------------------------------------------------


def _containers_path(resource_type: str) -> tuple[str, ...]:
    if resource_type == SERVICE_V1:
        return ("template", "spec", "containers")
    return ("template", "containers")


def _service_account_path(resource_type: str) -> tuple[str, ...]:
    if resource_type == SERVICE_V1:
        return ("template", "spec", "serviceAccountName")
    return ("template", "serviceAccount")


def _module_and_name(resource_type: str) -> tuple[str, str]:
    """("cloudrunv2/serviceIamMember", "ServiceIamMember") -> module "cloudrunv2", name."""
    parts = resource_type.split(":")
    if len(parts) != 3:
        return "", ""
    return parts[1].split("/", 1)[0], parts[2]


def _iam_kind(resource_type: str) -> str | None:
    """The kind of Google IAM grant a resource type is: "member", "binding", "policy" or None."""
    if not resource_type.startswith("gcp:"):
        return None
    name = _module_and_name(resource_type)[1].lower()
    for kind in ("member", "binding", "policy"):
        if name.endswith("iam" + kind):
            return kind
    return None


def _policy_bindings(props: Any) -> list[Mapping[str, Any]]:
    """The bindings of an `*IamPolicy` resource's `policyData` JSON (empty when unparsable)."""
    data = text(props, "policyData")
    if data is None:
        return []
    try:
        parsed = json.loads(data)
    except ValueError:
        return []
    bindings = parsed.get("bindings") if isinstance(parsed, dict) else None
    return [b for b in bindings if isinstance(b, dict)] if isinstance(bindings, list) else []


def _granted_roles(resource_type: str, props: Any, unknowns: Unknowns) -> list[str]:
    kind = _iam_kind(resource_type)
    roles: list[str] = []
    with unknowns:
        if kind in ("member", "binding"):
            role = text(props, "role")
            roles.extend([role] if role else [])
        elif kind == "policy":
            roles.extend(str(b.get("role")) for b in _policy_bindings(props))
    return roles


def _granted_members(resource_type: str, props: Any, unknowns: Unknowns) -> list[str]:
    kind = _iam_kind(resource_type)
    members: list[str] = []
    if kind == "member":
        with unknowns:
            member = text(props, "member")
            members.extend([member] if member else [])
    elif kind == "binding":
        with unknowns:
            for index in range(length(props, "members")):
                with unknowns:
                    member = text(props, "members", index)
                    members.extend([member] if member else [])
    elif kind == "policy":
        with unknowns:
            for binding in _policy_bindings(props):
                listed = binding.get("members")
                if is_list(listed):
                    members.extend(str(m) for m in listed)
    return members


def _services(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type in SERVICE_TYPES]


def _is_retention(resource: PolicyResource) -> bool:
    """Whether `resource` is the revision retention; raises UnknownValueError if `kind` is unknown.

    The retention is a Pulumi dynamic resource (`pulumi-python:dynamic...`): the one whose type
    is RETENTION_TYPE, or any dynamic resource whose input `kind` is RETENTION_KIND.
    """
    if resource.resource_type == RETENTION_TYPE:
        return True
    package = resource.resource_type.split(":", 1)[0]
    if package not in DYNAMIC_PACKAGES or _module_and_name(resource.resource_type)[0] != "dynamic":
        return False
    return get(resource.props, "kind") == RETENTION_KIND


# --- stack policies -------------------------------------------------------------------------------


def validate_single_service(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    services = _services(args)
    if not services:
        report_violation(
            "The stack declares no Cloud Run service; the deployment is exactly one service.", None
        )
        return
    if len(services) > 1:
        names = ", ".join(sorted(r.name for r in services))
        for service in services:
            report_violation(
                f"{len(services)} Cloud Run services in the stack ({names}); keep exactly one.",
                service.urn,
            )


def validate_single_traffic_target(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    unknowns = Unknowns()
    for service in _services(args):
        with unknowns:
            targets = length(service.props, "traffics")
            if targets > 1:
                report_violation(
                    f"Service {service.name!r} splits traffic over {targets} targets; "
                    "declare one target at 100%.",
                    service.urn,
                )
            elif targets == 1:
                raw = get(service.props, "traffics", 0, "percent")
                percent = 0 if raw is None else whole_number(raw)
                if percent != 100:
                    report_violation(
                        f"Service {service.name!r} sends {raw if raw is not None else 0}% of "
                        "traffic to its only target; it must be 100%.",
                        service.urn,
                    )
    unknowns.raise_first()


def validate_revision_retention(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    limit = config.max_revisions(args.get_config())
    unknowns = Unknowns()
    found = 0
    for resource in args.resources:
        with unknowns:
            if not _is_retention(resource):
                continue
            found += 1
            raw = get(resource.props, "revisionsToKeep")
            kept = whole_number(raw)
            if kept is None:
                report_violation(
                    f"Revision retention {resource.name!r} has revisionsToKeep={raw!r}; "
                    f"it must be a whole number from 1 to {limit}.",
                    resource.urn,
                )
            elif not 1 <= kept <= limit:
                report_violation(
                    f"Revision retention {resource.name!r} keeps {kept} revisions; "
                    f"keep from 1 to {limit}.",
                    resource.urn,
                )
    if found == 0 and unknowns.first is None:
        report_violation(
            f"The stack has no revision retention ({RETENTION_TYPE}, or a dynamic resource "
            f"with kind={RETENTION_KIND!r}), so old Cloud Run revisions pile up.",
            None,
        )
    unknowns.raise_first()


def _revisions_kept(args: StackValidationArgs, unknowns: Unknowns) -> int | None:
    kept: list[int] = []
    for resource in args.resources:
        with unknowns:
            if _is_retention(resource):
                value = whole_number(get(resource.props, "revisionsToKeep"))
                kept.extend([value] if value is not None and value > 0 else [])
    return max(kept) if kept else None


def _cleanup(repo: PolicyResource, entries: Unknowns) -> tuple[bool, int]:
    """(whether any cleanup policy deletes, the largest KEEP mostRecentVersions.keepCount)."""
    deletes, keep_count = False, 0
    with entries:
        for index in range(length(repo.props, "cleanupPolicies")):
            with entries:
                entry: tuple[Key, ...] = ("cleanupPolicies", index)
                action = text(repo.props, *entry, "action")
                if action == "DELETE":
                    deletes = True
                elif action == "KEEP":
                    count = get(repo.props, *entry, "mostRecentVersions", "keepCount")
                    keep_count = max(keep_count, whole_number(count) or 0)
    return deletes, keep_count


def validate_registry_cleanup(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    unknowns = Unknowns()
    revisions = _revisions_kept(args, unknowns)
    repos = [r for r in args.resources if r.resource_type == REPOSITORY]
    for repo in repos if revisions is not None else []:
        entries = Unknowns()
        deletes, keep_count = _cleanup(repo, entries)
        if keep_count >= revisions or (not deletes and entries.first is None):
            continue
        with unknowns:
            if get(repo.props, "cleanupPolicyDryRun") is True:
                continue  # a dry run deletes nothing
            entries.raise_first()
            report_violation(
                f"Repository {repo.name!r} deletes images but keeps only the {keep_count} most "
                f"recent versions while the retention keeps {revisions} revisions; add a KEEP "
                f"policy with mostRecentVersions.keepCount >= {revisions}.",
                repo.urn,
            )
    unknowns.raise_first()


# --- resource policies ----------------------------------------------------------------------------


def validate_image_by_digest(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    path = _containers_path(args.resource_type)
    unknowns = Unknowns()
    for index in range(length(args.props, *path)):
        with unknowns:
            image = text(args.props, *path, index, "image")
            if image is None or not DIGEST_RE.search(image):
                report_violation(
                    f"Container {index} runs image {image!r}, not an image pinned by digest.",
                    None,
                )
    unknowns.raise_first()


def validate_region_allowed(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if not args.resource_type.startswith("gcp:"):
        return
    allowed = {r.lower() for r in config.allowed_regions(args.get_config())}
    unknowns = Unknowns()
    explicit = False
    for key in ("location", "region"):
        with unknowns:
            if not present(args.props, key):
                continue
            explicit = True
            value = text(args.props, key)
            if value is not None and value.lower() != "global" and value.lower() not in allowed:
                report_violation(
                    f"{key}={value!r} is not an allowed region ({', '.join(sorted(allowed))}).",
                    None,
                )
    inherits = args.resource_type in SERVICE_TYPES or args.resource_type == REPOSITORY
    provider = args.provider
    gcp_provider = provider is not None and provider.resource_type == "pulumi:providers:gcp"
    if not explicit and inherits and provider is not None and gcp_provider:
        with unknowns:
            region = text(provider.props, "region")
            if region is not None and region.lower() not in allowed:
                report_violation(
                    f"No location set: it inherits the provider's region {region!r}, which is "
                    f"not allowed ({', '.join(sorted(allowed))}).",
                    None,
                )
    unknowns.raise_first()


def validate_dedicated_service_account(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    account = text(args.props, *_service_account_path(args.resource_type))
    if not account:
        report_violation(
            "No service account set: Cloud Run would run it as the default compute account.",
            None,
        )
    elif DEFAULT_ACCOUNT_RE.match(account):
        report_violation(f"The service runs as the default account {account!r}.", None)


def _pinned(version: Any) -> bool:
    """A whole version number >= 1: 5, 5.0 (the engine's numbers), "5", or
    "projects/<p>/secrets/<id>/versions/5". Never `latest`, an alias, empty or 0."""
    number = whole_number(version)
    if number is not None:
        return number >= 1
    if not isinstance(version, str):
        return False
    last = version.rsplit("/", 1)[-1]
    return last.isdigit() and int(last) >= 1 and (last == version or "/versions/" in version)


def _env_findings(env: Any, v1: bool) -> str | None:
    """Why an env var's secret reference is wrong, or None when it is pinned (or there is none).

    Any reference is judged, whatever the variable's name: `latest` means a rotation reaches
    instances at random and rolls no revision, for an API key as much as for a password.
    """
    source = get(env, "valueFrom" if v1 else "valueSource")
    ref = get(source, "secretKeyRef")
    if not is_mapping(ref):
        return None
    secret_field, version_field = ("name", "key") if v1 else ("secret", "version")
    if not text(ref, secret_field):
        return "is not read from Secret Manager (its secret reference names no secret)"
    version = get(ref, version_field)
    if not _pinned(version):
        return f"is not pinned to a secret version number (version={version!r})"
    return None


def _plain_secret_finding(env: Any, v1: bool) -> str | None:
    """Why a variable whose name looks secret is wrong: a plain value, or no Secret Manager
    reference at all (None when it has a reference: _env_findings judges that)."""
    if present(env, "value"):
        return "carries a plain value"
    if not is_mapping(get(get(env, "valueFrom" if v1 else "valueSource"), "secretKeyRef")):
        return "is not read from Secret Manager"
    return None


def validate_secret_env(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    v1 = args.resource_type == SERVICE_V1
    path = _containers_path(args.resource_type)
    unknowns = Unknowns()
    for container in range(length(args.props, *path)):
        with unknowns:
            envs: tuple[Key, ...] = (*path, container, "envs")
            for index in range(length(args.props, *envs)):
                with unknowns:
                    name = text(args.props, *envs, index, "name")
                    env = get(args.props, *envs, index)
                    finding = None
                    if name and SECRET_NAME_RE.search(name):
                        finding = _plain_secret_finding(env, v1)
                    finding = finding or _env_findings(env, v1)
                    if finding:
                        report_violation(f"Env var {name} (container {container}) {finding}.", None)
    unknowns.raise_first()


def validate_startup_probe(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    path = _containers_path(args.resource_type)
    unknowns = Unknowns()
    containers: dict[int, Any] = {}
    for index in range(length(args.props, *path)):
        with unknowns:
            containers[index] = get(args.props, *path, index)
    # The probe matters on the container that serves (the one with ports, or every container).
    serving = [i for i, c in containers.items() if has_key(c, "ports")] or list(containers)
    for index in serving:
        with unknowns:
            probe = get(containers[index], "startupProbe")
            if not any(present(probe, kind) for kind in ("httpGet", "tcpSocket", "grpc")):
                report_violation(
                    f"Container {index} has no startup probe (httpGet, tcpSocket or grpc).", None
                )
    unknowns.raise_first()


def validate_deletion_protection(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    stack = stack_of(args.urn)
    if stack not in config.protected_stacks(args.get_config()):
        return
    if args.resource_type == SERVICE_V1:
        if not args.opts.protect:
            report_violation(
                f"A v1 Cloud Run service in stack {stack!r} has no deletion protection "
                "(v1 has no deletionProtection: set the `protect` resource option).",
                None,
            )
        return
    value = get(args.props, "deletionProtection")
    if value is not True:
        report_violation(
            f"deletionProtection is {value!r} in stack {stack!r}; it must be true.", None
        )


def _max_instances(resource_type: str, props: Any, unknowns: Unknowns) -> int | None:
    if resource_type == SERVICE_V1:
        with unknowns:
            raw = get(props, "template", "metadata", "annotations", MAX_SCALE_ANNOTATION)
            return int(raw) if isinstance(raw, str) and raw.isdigit() else whole_number(raw)
        return None
    counts: list[int] = []
    for path in (("template", "scaling", "maxInstanceCount"), ("scaling", "maxInstanceCount")):
        with unknowns:
            value = whole_number(get(props, *path))
            counts.extend([value] if value is not None else [])
    return min(counts) if counts else None


def validate_max_instances(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in SERVICE_TYPES:
        return
    unknowns = Unknowns()
    limit = _max_instances(args.resource_type, args.props, unknowns)
    if limit is not None and limit > 0:
        return
    unknowns.raise_first()
    report_violation(
        "No maximum instance count: a traffic spike or a crash loop scales without bound."
        if limit is None
        else f"The maximum instance count is {limit}; it must be at least 1.",
        None,
    )


def validate_no_basic_roles(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if _iam_kind(args.resource_type) is None:
        return
    unknowns = Unknowns()
    for role in _granted_roles(args.resource_type, args.props, unknowns):
        if role in BASIC_ROLES:
            report_violation(f"Grants the basic role {role}.", None)
    unknowns.raise_first()


def validate_secret_accessor_per_secret(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    module = _module_and_name(args.resource_type)[0]
    if _iam_kind(args.resource_type) is None or module not in PROJECT_WIDE_MODULES:
        return
    unknowns = Unknowns()
    if SECRET_ACCESSOR in _granted_roles(args.resource_type, args.props, unknowns):
        report_violation(
            f"Grants {SECRET_ACCESSOR} on the whole {module.rstrip('s')}: every secret.", None
        )
    unknowns.raise_first()


def validate_registry_not_public(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    module, name = _module_and_name(args.resource_type)
    if module != "artifactregistry" or not name.startswith("RepositoryIam"):
        return
    unknowns = Unknowns()
    public = sorted(
        set(_granted_members(args.resource_type, args.props, unknowns)) & PUBLIC_MEMBERS
    )
    if public:
        report_violation(f"Opens the repository to {', '.join(public)}.", None)
    unknowns.raise_first()


def validate_image_platform(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type == DOCKER_IMAGE:
        if not present(args.props, "build"):
            return  # nothing is built: the image is only pushed
        platform = get(args.props, "build", "platform")
        if platform != REQUIRED_PLATFORM:
            report_violation(f"build.platform is {platform!r}, not {REQUIRED_PLATFORM!r}.", None)
    elif args.resource_type == DOCKER_BUILD_IMAGE:
        platforms = get(args.props, "platforms")
        listed = [get(platforms, i) for i in range(length(platforms))] if is_list(platforms) else []
        if REQUIRED_PLATFORM not in listed:
            report_violation(f"platforms is {listed!r}, without {REQUIRED_PLATFORM!r}.", None)


def _is_service_iam(resource_type: str) -> bool:
    module, name = _module_and_name(resource_type)
    if module == "cloudrunv2":
        return name.startswith("ServiceIam")
    return module == "cloudrun" and name.startswith("Iam")


def validate_public_invoker(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if config.public_access_allowed(args.get_config()):
        return
    unknowns = Unknowns()
    if args.resource_type == SERVICE_V2:
        with unknowns:
            if get(args.props, "invokerIamDisabled") is True:
                report_violation("invokerIamDisabled=true lets anyone invoke the service.", None)
    elif _is_service_iam(args.resource_type):
        members = _granted_members(args.resource_type, args.props, unknowns)
        public = sorted(set(members) & PUBLIC_MEMBERS)
        if public:
            report_violation(f"Lets {', '.join(public)} invoke the service.", None)
    unknowns.raise_first()


# --- the policies ---------------------------------------------------------------------------------

Validator = Callable[[Any, ReportViolation], None]


def _stack(name: str, description: str, validate: Validator, **kwargs: Any) -> Policy:
    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=MANDATORY, **kwargs
    )


def _resource(name: str, description: str, validate: Validator, **kwargs: Any) -> Policy:
    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=MANDATORY, **kwargs
    )


POLICIES: list[Policy] = [
    _stack(
        "single-cloud-run-service",
        "The stack deploys exactly one Cloud Run service (v1 or v2). Fix: remove the extra "
        "service, or move it to a stack of its own.",
        validate_single_service,
    ),
    _stack(
        "single-traffic-target",
        "A Cloud Run service has at most one traffic target, at 100% (no canary, no split). "
        "Fix: declare traffics=[LATEST at 100%], or one REVISION target at 100% to roll back.",
        validate_single_traffic_target,
    ),
    _stack(
        "revision-retention",
        "The stack has a revision retention keeping 1 to maxRevisions (default 3) revisions. "
        "Fix: keep the retention resource and set emergence-cloudrun:revisionsToKeep in range.",
        validate_revision_retention,
        config_schema=config.MAX_REVISIONS_SCHEMA,
    ),
    _stack(
        "registry-cleanup-keeps-revisions",
        "Artifact Registry cleanup keeps at least as many images as revisions are kept, so a "
        "rollback target's image is never deleted. Fix: add a KEEP cleanup policy whose "
        "mostRecentVersions.keepCount is at least revisionsToKeep.",
        validate_registry_cleanup,
    ),
    _resource(
        "image-by-digest",
        "Cloud Run runs an image by digest (`...@sha256:<64 hex>`), never by tag: a tag can move "
        "and gives no new revision. Fix: pass AppImage's repo_digest (the pushed digest).",
        validate_image_by_digest,
    ),
    _resource(
        "region-allowed",
        "Google Cloud resources live in an allowed region (default europe-west1). Fix: set "
        "location to an allowed region, or add the region to the pack's allowedRegions.",
        validate_region_allowed,
        config_schema=config.ALLOWED_REGIONS_SCHEMA,
    ),
    _resource(
        "dedicated-service-account",
        "Cloud Run runs as a dedicated runtime service account, not the default compute (or "
        "App Engine) account. Fix: set template.service_account to the runtime account's email.",
        validate_dedicated_service_account,
    ),
    _resource(
        "secret-env-from-secret-manager",
        "Env vars whose names look secret (*PASSWORD*, *SECRET*, *TOKEN*, *KEY*) come from "
        "Secret Manager, and every Secret Manager reference is pinned to a version number. "
        "Fix: use value_source.secret_key_ref with the created SecretVersion's version (or, for "
        "an existing secret, its number: appSecretEnv NAME: SECRET_ID:5), never a plain value "
        "or `latest`.",
        validate_secret_env,
    ),
    _resource(
        "startup-probe",
        "The serving container has a startup probe, so a revision that cannot start never takes "
        "traffic. Fix: add startup_probe (http_get on the health path) to the container.",
        validate_startup_probe,
    ),
    _resource(
        "deletion-protection",
        "Cloud Run services in protected stacks (default: prod) have deletion protection on. "
        "Fix: set deletion_protection=True (emergence-cloudrun:deletionProtection).",
        validate_deletion_protection,
        config_schema=config.PROTECTED_STACKS_SCHEMA,
    ),
    _resource(
        "max-instances",
        "A Cloud Run service sets a maximum instance count, which bounds cost. Fix: set "
        "template.scaling.max_instance_count (emergence-cloudrun:maxInstances).",
        validate_max_instances,
    ),
    _resource(
        "no-basic-roles",
        "No IAM grant uses a basic role (roles/owner, roles/editor, roles/viewer). Fix: grant "
        "the narrow predefined role the member needs.",
        validate_no_basic_roles,
    ),
    _resource(
        "secret-accessor-per-secret",
        "roles/secretmanager.secretAccessor is granted on each secret, never on a project, "
        "folder or organization. Fix: use secretmanager.SecretIamMember on the secret.",
        validate_secret_accessor_per_secret,
    ),
    _resource(
        "registry-not-public",
        "The Artifact Registry repository is not public (no allUsers/allAuthenticatedUsers). "
        "Fix: grant artifactregistry.reader to the service accounts that pull.",
        validate_registry_not_public,
    ),
    _resource(
        "image-linux-amd64",
        "Images are built for linux/amd64, the platform Cloud Run runs. Fix: set "
        "build.platform='linux/amd64' on the docker Image.",
        validate_image_platform,
    ),
    _resource(
        "public-invoker-allowed",
        "Public invocation (allUsers/allAuthenticatedUsers invoker, or invokerIamDisabled) only "
        "when the pack's publicAccessAllowed says so. Fix: remove the public grant, or set "
        "publicAccessAllowed=true in the policy config if the service is meant to be public.",
        validate_public_invoker,
        config_schema=config.PUBLIC_ACCESS_SCHEMA,
    ),
]
