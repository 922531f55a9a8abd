"""Evaluate the whole Pulumi program in-process with Pulumi's mock engine.

No Pulumi CLI, no cloud account: `pulumi.runtime.set_mocks` stands in for the engine, the
stack's config is read from `Pulumi.<stack>.yaml` (mocks never read it themselves) and every
registration is recorded with its inputs, options and dependencies. `python -m infra plan`,
the tests, the policy integration tests and the bench are all built on `evaluate()`.

The fake outputs below are what the providers would return after `pulumi up` (a digest for the
image, a URL and revision names for the service, ...). In preview mode they stay unknown, like
in a real `pulumi preview`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import KEYS_BY_NAME, PROJECT, PROJECT_DIR, config_string, read_stack_config
from infra.preflight import source as app_source
from infra.preflight.git import assumed
from infra.providers.unknowns import is_unknown
from infra.rules.deploy_source import GitInfo

MOCK_PROJECT_NUMBER = "123456789012"
PLACEHOLDER_SECRET = "placeholder-secret-for-plan"  # noqa: S105 - not a credential
DOCKER_IMAGE = "docker-build:index:Image"

# The commit the program sees under the mock engine unless a caller passes `git=`: a clean
# checkout of main, so evaluations (image tag, clean-tree gate) are the same on any machine.
# `git=REAL_GIT` reads the real repository (python -m infra plan); a GitInfo or None (not a
# repository) tests the gate.
MOCK_GIT = GitInfo(
    sha="5eed0000c0ffee00000000000000000000000000",
    commit_time=datetime(2025, 10, 6, 6, 5, 38, tzinfo=UTC),
    dirty=False,
    branch="main",
    default_branch_ref="origin/main",
    on_default_branch=True,
)
REAL_GIT = object()
# The app's own checkout (stack prod builds ../emergencev8), as the mock engine sees it unless a
# caller passes `app_git=`: a clean checkout on the app's main at the guide's commit. REAL_GIT
# reads the real checkout (and stages nothing: `plan` writes no file); None: the source is not a
# git work tree; MISSING_SOURCE: there is no source at that path at all.
MOCK_APP_GIT = GitInfo(
    sha="e7b0d751a6dad2d5c285820c8af0c9e8f446753f",
    commit_time=datetime(2025, 10, 12, 17, 48, 43, tzinfo=UTC),
    dirty=False,
    branch=None,
    default_branch_ref="origin/main",
    on_default_branch=True,
)
MISSING_SOURCE = object()

_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


class _Unknown:
    """A value only `pulumi up` knows (a digest, a URL): what a preview sees."""

    def __repr__(self) -> str:
        return "<unknown until pulumi up>"

    __str__ = __repr__


UNKNOWN = _Unknown()


class UnexpectedInvoke(Exception):
    pass


@dataclass(frozen=True)
class Resource:
    """One registration, as the engine would have received it."""

    type: str
    name: str
    urn: str
    id: str  # the provider's id ("" for components and in preview)
    custom: bool
    inputs: dict[str, Any]  # camelCase wire names, secrets unwrapped
    outputs: dict[str, Any]
    parent: str | None
    dependencies: tuple[str, ...]
    import_id: str | None
    secret_inputs: frozenset[str]  # dotted paths of inputs that arrived as secrets
    options: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, default: Any = None) -> Any:
        """`inputs` by dotted path: `template.containers.0.image`."""
        return lookup(self.inputs, path, default)


def lookup(node: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path (`template.containers.0.image`) in dicts and lists."""
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return default
    return node


@dataclass
class Evaluation:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]
    preview: bool
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            named = f" named {name}" if name else ""
            raise AssertionError(f"expected one {type_}{named}, found {len(found)}")
        return found[0]

    def pushed_image(self) -> Resource:
        """The app image Cloud Run runs: the one docker-build Image, pushed."""
        found = [r for r in self.of_type(DOCKER_IMAGE) if r.inputs.get("push")]
        if len(found) != 1:
            raise AssertionError(f"expected one pushed {DOCKER_IMAGE}, found {len(found)}")
        return found[0]

    def image_digest(self) -> str:
        """`<repository>@sha256:...` of the pushed image, as Cloud Run gets it."""
        image = self.pushed_image()
        return f"{image.inputs['tags'][0].rsplit(':', 1)[0]}@{image.outputs['digest']}"

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def custom(self) -> list[Resource]:
        return [r for r in self.resources if r.custom]


def _unwrap(value: Any, path: str, secrets: set[str]) -> Any:
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            secrets.add(path)
            return _unwrap(value.get("value"), path, secrets)
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}.{i}", secrets) for i, v in enumerate(value)]
    return value


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class ProviderMocks(pulumi.runtime.Mocks):
    """What the providers would answer: plausible outputs, stable for the same inputs."""

    def __init__(self, project: str, region: str, preview: bool = False):
        self.project = project
        self.region = region
        self.preview = preview

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        # The program calls no provider function; a new one must be mocked here on purpose.
        raise UnexpectedInvoke(f"unexpected provider function call {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = _unwrap(args.inputs, "", set())
        outputs = dict(args.inputs)  # as received: secrets stay secret, unknowns unknown
        if self.preview:
            # A preview knows inputs only: digests, URLs and revision names stay unknown.
            return "", outputs
        project = inputs.get("project", self.project)
        location = inputs.get("location", self.region)
        typ = args.typ
        resource_id = f"{args.name}-id"
        if typ == DOCKER_IMAGE:
            # the digest follows the build's inputs; `ref` is the pushed tag at that digest
            built = {k: v for k, v in inputs.items() if k != "registries"}
            outputs["digest"] = f"sha256:{_digest(built)}"
            outputs["contextHash"] = _digest(inputs.get("context"))[:16]
            tags = inputs.get("tags") or []
            outputs["ref"] = f"{tags[0]}@{outputs['digest']}" if tags else ""
            resource_id = outputs["digest"]
        elif typ == "gcp:cloudrunv2/service:Service":
            name = inputs["name"]
            suffix = _digest(inputs)[:3]
            outputs["uri"] = f"https://{name}-{MOCK_PROJECT_NUMBER}.{location}.run.app"
            outputs["latestReadyRevision"] = f"{name}-00001-{suffix}"
            outputs["latestCreatedRevision"] = f"{name}-00001-{suffix}"
            resource_id = f"projects/{project}/locations/{location}/services/{name}"
        elif typ == "gcp:secretmanager/secret:Secret":
            resource_id = f"projects/{project}/secrets/{inputs['secretId']}"
            outputs["name"] = f"projects/{MOCK_PROJECT_NUMBER}/secrets/{inputs['secretId']}"
        elif typ == "gcp:secretmanager/secretVersion:SecretVersion":
            outputs["version"] = "1"
            outputs["name"] = f"{inputs['secret']}/versions/1"
            resource_id = outputs["name"]
        elif typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
            outputs.update(email=email, member=f"serviceAccount:{email}", uniqueId="1" * 21)
            resource_id = f"projects/{project}/serviceAccounts/{email}"
        elif typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            outputs["uptimeCheckId"] = f"{args.name}-{_digest(inputs)[:12]}"
            outputs["name"] = f"projects/{project}/uptimeCheckConfigs/{outputs['uptimeCheckId']}"
            resource_id = outputs["name"]
        elif typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            outputs["name"] = f"projects/{project}/notificationChannels/{_digest(inputs)[:16]}"
            resource_id = outputs["name"]
        elif typ == "gcp:artifactregistry/repository:Repository":
            repo = inputs["repositoryId"]
            resource_id = f"projects/{project}/locations/{location}/repositories/{repo}"
            outputs["name"] = repo
        return resource_id, outputs


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also keeps what the options said: parent, dependencies, import id."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.requests[response.urn] = request
        return response


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def stack_config(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(config, secret config, warnings) as the Pulumi CLI would pass them to the program.

    `overrides` and `secrets` take short names (`smtpPort`) or full ones (`gcp:region`); a value
    of None removes the key. A secret the stack file holds encrypted cannot be read here: a
    placeholder stands in for it, and a warning says so.
    """
    values, secure = read_stack_config(stack, project_dir)
    secret_values: dict[str, str] = {}
    warnings: list[str] = []

    def full(name: str) -> str:
        return (
            name
            if ":" in name
            else KEYS_BY_NAME[name].full
            if name in KEYS_BY_NAME
            else f"{PROJECT}:{name}"
        )

    for name in secure:
        secret_values[name] = PLACEHOLDER_SECRET
        warnings.append(f"{name} is encrypted in Pulumi.{stack}.yaml: a placeholder stands in")
    for name, value in (overrides or {}).items():
        if value is None:
            values.pop(full(name), None)
        else:
            values[full(name)] = config_string(value)
    for name, value in (secrets or {}).items():
        if value is None:
            secret_values.pop(full(name), None)
        else:
            secret_values[full(name)] = value
    return values, secret_values, warnings


def placeholder_secrets(secret_values: Mapping[str, str]) -> dict[str, str]:
    """A placeholder for each required secret the stack file does not set (short names).

    `plan` and `adopt` evaluate the program without the stack's secrets: the password lives
    encrypted in the stack (or is set later, during adoption) and a plan never needs its value.
    """
    return {
        key.name: PLACEHOLDER_SECRET
        for key in KEYS_BY_NAME.values()
        if key.secret and key.default is None and key.full not in secret_values
    }


def _reset_runtime() -> None:
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()


async def _resolve(value: Any) -> tuple[Any, bool, bool]:
    output = pulumi.Output.from_input(value)
    known = await output.is_known()
    secret = await output.is_secret()
    return (await output.future() if known else None), known, secret


def evaluate(
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    *,
    preview: bool = False,
    project_dir: Path = PROJECT_DIR,
    program: Path | None = None,
    git: Any = MOCK_GIT,
    app_git: Any = MOCK_APP_GIT,
) -> Evaluation:
    """Run `__main__.py` for `stack` under mocks and return everything it registered.

    Exceptions from the program (e.g. `SettingsError`) propagate unchanged; `attempt()` returns
    them together with what was registered before the failure.
    """
    evaluation, error = attempt(
        stack,
        config,
        secrets,
        preview=preview,
        project_dir=project_dir,
        program=program,
        git=git,
        app_git=app_git,
    )
    if error is not None:
        raise error
    return evaluation


def attempt(
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    *,
    preview: bool = False,
    project_dir: Path = PROJECT_DIR,
    program: Path | None = None,
    git: Any = MOCK_GIT,
    app_git: Any = MOCK_APP_GIT,
) -> tuple[Evaluation, BaseException | None]:
    """Like `evaluate`, but returns (what was registered, the program's exception or None)."""
    values, secret_values, warnings = stack_config(stack, config, secrets, project_dir)
    mocks = ProviderMocks(
        project=values.get("gcp:project", ""),
        region=values.get("gcp:region", ""),
        preview=preview,
    )
    monitor = RecordingMonitor(mocks)
    _reset_runtime()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config({**values, **secret_values}, secret_keys=list(secret_values))
    root = runtime_settings.get_root_resource()
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    async def run() -> None:
        runpy.run_path(str(program or project_dir / "__main__.py"), run_name="__main__")

    async def collect() -> None:
        for name, value in (root.outputs if root is not None else {}).items():
            resolved, known, secret = await _resolve(value)
            exports[name] = resolved if known else UNKNOWN
            if secret:
                secret_exports.add(name)

    error: BaseException | None = None
    # Pushing images needs a Google token; the mock engine pushes nothing.
    assumption = contextlib.nullcontext() if git is REAL_GIT else assumed(git)
    if app_git is REAL_GIT:
        app_assumption = app_source.read_only()
    elif app_git is MISSING_SOURCE:
        app_assumption = app_source.assumed(None, exists=False)
    else:
        app_assumption = app_source.assumed(app_git)
    with (
        _env("GOOGLE_OAUTH_ACCESS_TOKEN", "mock-access-token"),
        assumption,
        app_assumption,
    ):
        try:
            _sync_await(run_pulumi_func(run))
            _sync_await(collect())
        except Exception as exc:  # noqa: BLE001 - handed back to the caller
            error = exc
    resources = [
        _record(urn, reg, monitor.requests.get(urn)) for urn, reg in monitor.resources.items()
    ]
    evaluation = Evaluation(stack, resources, exports, frozenset(secret_exports), preview, warnings)
    return evaluation, error


def _record(urn: str, reg: Any, request: Any) -> Resource:
    secret_paths: set[str] = set()
    typ = urn.split("::")[2].rsplit("$", maxsplit=1)[-1]
    name = urn.split("::")[3]
    inputs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    parent = None
    deps: tuple[str, ...] = ()
    import_id = None
    custom = True
    if request is not None:
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        inputs = _unwrap(raw_inputs, "", secret_paths)
        parent = request.parent or None
        deps = tuple(sorted(set(request.dependencies)))
        import_id = request.importId or None
        custom = request.custom
        options = {
            "protect": request.protect,
            "ignoreChanges": list(request.ignoreChanges),
            "deleteBeforeReplace": request.deleteBeforeReplace,
            "retainOnDelete": request.retainOnDelete,
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "customTimeouts": {
                "create": request.customTimeouts.create,
                "update": request.customTimeouts.update,
                "delete": request.customTimeouts.delete,
            },
        }
    outputs = _unwrap(dict(reg.state or {}), "", set())
    return Resource(
        type=typ,
        name=name,
        urn=urn,
        id=reg.id or "",
        custom=custom,
        inputs=inputs,
        outputs=outputs,
        parent=parent,
        dependencies=deps,
        import_id=import_id,
        secret_inputs=frozenset(secret_paths),
        options=options,
    )
