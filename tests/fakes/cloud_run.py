"""A fake Cloud Run Admin API v2 for tests and benches: a real HTTP server on 127.0.0.1, port 0.

Shapes follow the Cloud Run v2 discovery document shipped in google-api-python-client
(`googleapiclient/discovery_cache/documents/run.v2.json`); `tests/google/test_fake_cloud_run.py`
walks every response and fails on a field name or enum value the schema does not know.

Start it
--------
    with FakeCloudRun() as fake:                 # project emergence-469005, europe-west1
        fake.url                                 # http://127.0.0.1:PORT (no /v2)
        os.environ["CLOUD_RUN_API_ENDPOINT"] = fake.url   # or the `fake_cloud_run` fixture

The pytest fixture `fake_cloud_run` (tests/conftest.py) starts one, points
`CLOUD_RUN_API_ENDPOINT` at it and stops it afterwards.

Seed state
----------
    fake.add_service("emergence-app")            # traffic defaults to 100% LATEST
    rev = fake.deploy("emergence-app")           # new Ready revision -> latestCreated/latestReady
    fake.deploy("emergence-app", state="failed") # Ready=CONDITION_FAILED; latestReady unchanged
    fake.deploy("emergence-app", state="pending")  # reconciling, Ready=CONDITION_RECONCILING
    fake.deploy("emergence-app", image="...@sha256:...", labels={...}, create_time="2025-...Z")
    fake.set_traffic("emergence-app", [pinned(rev, 90), latest(10), tagged(rev2, "canary")])
        # `traffic` as given; `trafficStatuses` derived (LATEST resolved to latestReadyRevision,
        # tag URIs filled in). set_traffic_statuses() overrides the statuses (drift, reconciling).
    fake.set_revision_state("emergence-app", rev, "failed")
    fake.set_template("emergence-app", **gcloud_template(image=..., env={...}, secrets={...}))
        # the service (and its latest revision) as `gcloud run deploy --set-env-vars ...
        # --set-secrets ...` leaves it; update_service(..., client="gcloud") for top-level fields
    fake.service("emergence-app"), fake.revision("emergence-app", rev)   # the JSON, copies
    fake.revision_ids("emergence-app")           # newest first
Revision ids look like Cloud Run's: `emergence-app-00003-kxw`. Creation times come from a fake
clock (2025-01-01T00:00:00Z, one minute per deploy) unless given.

Endpoints (all under /v2/)
--------------------------
    GET    projects/{p}/locations/{l}/services                      ListServicesResponse, paged
    GET    projects/{p}/locations/{l}/services/{s}                  Service
    GET    projects/{p}/locations/{l}/services/{s}/revisions        ListRevisionsResponse, paged,
                                                                    newest first
    GET    projects/{p}/locations/{l}/services/{s}/revisions/{r}    Revision
    DELETE projects/{p}/locations/{l}/services/{s}/revisions/{r}    Operation (done=false)
    GET    projects/{p}/locations/{l}/operations/{id}               Operation
Paging: `pageSize` (default `default_page_size`, capped at `max_page_size`) and `pageToken`;
answers carry `nextPageToken` while more remain; a bad token is 400 INVALID_ARGUMENT.
Deleting: a revision named by a traffic status with percent > 0 or a tag answers 400
FAILED_PRECONDITION (as Cloud Run refuses to delete a serving revision); an unknown one 404
NOT_FOUND. Otherwise the revision disappears and the Operation reports done after
`operation_polls` GETs (0: done at once), with the deleted Revision as `response`.
`validateOnly=true` checks and deletes nothing.

Faults
------
    fake.fail_next(2, 503)                       # next 2 matching calls answer 503 UNAVAILABLE
    fake.fail_next(1, 429, retry_after="3")      # with a Retry-After header
    fake.fail_next(1, 500, method="DELETE", path_contains="00002")
    fake.fail_next(1, 400, google_status="FAILED_PRECONDITION")   # any Google status
    fake.deny_deletes()                          # every DELETE: 403 PERMISSION_DENIED naming
                                                 # run.revisions.delete (ErrorInfo detail)
    fake.fail_delete("emergence-app-00002-abc", 500)     # that revision's deletes always fail
    fake.fail_operation("emergence-app-00002-abc")       # its Operation ends with an error
    fake.slow(0.5, n=1)                          # delay the next n responses (None: all)
    fake.reset_faults()

Request log
-----------
    fake.calls                                   # [Call(method, path, query, body, status,
                                                 #       headers)], headers lower-cased
    fake.count("DELETE"), fake.count("GET", "/operations/"), fake.clear_log()
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import STATUS_NAMES, FakeServer, google_error

PROJECT = "emergence-469005"
LOCATION = "europe-west1"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
REVISION_TYPE = "type.googleapis.com/google.cloud.run.v2.Revision"
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

_STATES = {
    "ready": ("CONDITION_SUCCEEDED", False),
    "failed": ("CONDITION_FAILED", False),
    "pending": ("CONDITION_RECONCILING", True),
}


def latest(percent: int = 100, tag: str | None = None) -> dict[str, Any]:
    """A traffic target: `percent` to the latest ready revision."""
    target: dict[str, Any] = {"type": LATEST, "percent": percent}
    if tag:
        target["tag"] = tag
    return target


def pinned(revision: str, percent: int = 100, tag: str | None = None) -> dict[str, Any]:
    """A traffic target: `percent` to one revision (by id)."""
    target: dict[str, Any] = {"type": REVISION, "revision": revision, "percent": percent}
    if tag:
        target["tag"] = tag
    return target


def tagged(revision: str, tag: str) -> dict[str, Any]:
    """A 0% traffic target that gives `revision` a tag URL."""
    return pinned(revision, 0, tag)


def timestamp(when: dt.datetime) -> str:
    """RFC 3339 with microseconds and Z, as Google's JSON uses."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


# The live project's default compute service account (its number is public in the app's repo).
PROJECT_NUMBER = "486095406755"
COMPUTE_ACCOUNT = f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"
GCLOUD_VERSION = "539.0.0"


def gcloud_template(
    *,
    image: str,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    cpu: str = "1",
    memory: str = "512Mi",
    min_instances: int | None = None,
    max_instances: int = 100,
    concurrency: int = 80,
    timeout: str = "300s",
    port: int = 8080,
    service_account: str = COMPUTE_ACCOUNT,
) -> dict[str, Any]:
    """The RevisionTemplate `gcloud run deploy` leaves, as the v2 Admin API shows it:
    `--set-env-vars` in the order given, then `--set-secrets` (`NAME=SECRET:VERSION`), the
    default compute account without `--service-account`, gcloud's default TCP startup probe
    (240 s), no liveness probe, startup CPU boost on, and gcloud's client annotations."""
    container: dict[str, Any] = {
        "name": "emergence-app-1",
        "image": image,
        "ports": [{"name": "http1", "containerPort": port}],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()]
        + [
            {
                "name": name,
                "valueSource": {
                    "secretKeyRef": {
                        "secret": ref.rsplit(":", 1)[0],
                        "version": ref.rsplit(":", 1)[1],
                    }
                },
            }
            for name, ref in (secrets or {}).items()
        ],
        "resources": {
            "limits": {"cpu": cpu, "memory": memory},
            "cpuIdle": True,
            "startupCpuBoost": True,
        },
        "startupProbe": {
            "timeoutSeconds": 240,
            "periodSeconds": 240,
            "failureThreshold": 1,
            "tcpSocket": {"port": port},
        },
    }
    scaling: dict[str, Any] = {"maxInstanceCount": max_instances}
    if min_instances:
        scaling["minInstanceCount"] = min_instances
    return {
        "annotations": {
            "run.googleapis.com/client-name": "gcloud",
            "run.googleapis.com/client-version": GCLOUD_VERSION,
        },
        "serviceAccount": service_account,
        "scaling": scaling,
        "maxInstanceRequestConcurrency": concurrency,
        "timeout": timeout,
        "containers": [container],
        "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
    }


@dataclass
class Call:
    method: str
    path: str  # without the query string, e.g. /v2/projects/.../revisions
    query: dict[str, str]
    body: Any
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    path_contains: str | None
    retry_after: str | None
    google_status: str | None = None


@dataclass
class _Service:
    service_id: str
    data: dict[str, Any]
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0
    statuses_override: list[dict[str, Any]] | None = None


class _Error(Exception):
    def __init__(
        self, code: int, status: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []
        self.headers: dict[str, str] = {}


class FakeCloudRun(FakeServer):
    """The fake API's state, faults and request log; `start()` serves it (tests/fakes/server.py).
    See the module doc."""

    def __init__(
        self,
        project: str = PROJECT,
        location: str = LOCATION,
        *,
        default_page_size: int = 100,
        max_page_size: int = 500,
        operation_polls: int = 1,
        latest_status_names_revision: bool = True,
    ) -> None:
        super().__init__()
        self.project = project
        self.location = location
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.operation_polls = operation_polls
        self.latest_status_names_revision = latest_status_names_revision
        self.calls: list[Call] = []
        self._services: dict[str, _Service] = {}
        self._operations: dict[str, dict[str, Any]] = {}
        self._op_polls: dict[str, int] = {}
        self._op_final: dict[str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._deny_deletes: str | None = None
        self._failing_deletes: dict[str, tuple[int, str]] = {}
        self._failing_operations: set[str] = set()
        self._slow: tuple[float, int | None] | None = None
        self._clock = 0
        self._lock = threading.RLock()

    # -- names --------------------------------------------------------------------------------

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def service_name(self, service_id: str) -> str:
        return f"{self.parent}/services/{service_id}"

    def revision_name(self, service_id: str, revision_id: str) -> str:
        return f"{self.service_name(service_id)}/revisions/{revision_id}"

    # -- seeding ------------------------------------------------------------------------------

    def _tick(self) -> str:
        self._clock += 1
        return timestamp(EPOCH + dt.timedelta(minutes=self._clock))

    def add_service(
        self,
        service_id: str,
        *,
        traffic: list[dict[str, Any]] | None = None,
        labels: Mapping[str, str] | None = None,
        image: str | None = None,
    ) -> dict[str, Any]:
        """A service without revisions (deploy() adds them); traffic defaults to 100% LATEST."""
        with self._lock:
            now = self._tick()
            host = hashlib.sha256(service_id.encode()).hexdigest()[:10]
            uri = f"https://{service_id}-{host}-ew.a.run.app"
            data: dict[str, Any] = {
                "name": self.service_name(service_id),
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.service_name(service_id))),
                "generation": "1",
                "observedGeneration": "1",
                "labels": dict(labels or {}),
                "annotations": {},
                "createTime": now,
                "updateTime": now,
                "creator": "deployer@emergence-469005.iam.gserviceaccount.com",
                "lastModifier": "deployer@emergence-469005.iam.gserviceaccount.com",
                "ingress": "INGRESS_TRAFFIC_ALL",
                "launchStage": "GA",
                "template": {
                    "serviceAccount": f"emergence-run@{self.project}.iam.gserviceaccount.com",
                    "maxInstanceRequestConcurrency": 80,
                    "timeout": "300s",
                    "containers": [{"image": image or self._image(service_id, 0)}],
                },
                "traffic": copy.deepcopy(traffic) if traffic is not None else [latest()],
                "terminalCondition": {
                    "type": "Ready",
                    "state": "CONDITION_SUCCEEDED",
                    "lastTransitionTime": now,
                },
                "conditions": [
                    {"type": "RoutesReady", "state": "CONDITION_SUCCEEDED"},
                    {"type": "ConfigurationsReady", "state": "CONDITION_SUCCEEDED"},
                ],
                "latestReadyRevision": "",
                "latestCreatedRevision": "",
                "trafficStatuses": [],
                "uri": uri,
                "urls": [uri],
                "reconciling": False,
                "etag": '"' + now + '"',
            }
            self._services[service_id] = _Service(service_id, data)
            self._refresh(service_id)
            return copy.deepcopy(data)

    def _image(self, service_id: str, n: int) -> str:
        repo = f"{self.location}-docker.pkg.dev/{self.project}/app/{service_id}"
        return f"{repo}@{fake_digest(f'{service_id}/{n}')}"

    def deploy(
        self,
        service_id: str,
        *,
        state: str = "ready",
        image: str | None = None,
        labels: Mapping[str, str] | None = None,
        create_time: str | dt.datetime | None = None,
        revision_id: str | None = None,
    ) -> str:
        """A new revision (state ready | failed | pending), as a deploy would; returns its id."""
        if state not in _STATES:
            raise ValueError(f"state must be one of {sorted(_STATES)}")
        with self._lock:
            svc = self._services.get(service_id)
            if svc is None:
                self.add_service(service_id)
                svc = self._services[service_id]
            svc.counter += 1
            n = svc.counter
            suffix = "".join(
                chr(ord("a") + b % 26)
                for b in hashlib.sha256(f"{service_id}{n}".encode()).digest()[:3]
            )
            rid = revision_id or f"{service_id}-{n:05d}-{suffix}"
            if rid in svc.revisions:
                raise ValueError(f"revision {rid} already exists")
            now = self._tick()
            created = (
                timestamp(create_time) if isinstance(create_time, dt.datetime) else create_time
            )
            image = image or self._image(service_id, n)
            digest = image.split("@", 1)[1] if "@" in image else fake_digest(image)
            revision: dict[str, Any] = {
                "name": self.revision_name(service_id, rid),
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.revision_name(service_id, rid))),
                "generation": "1",
                "observedGeneration": "1",
                "labels": dict(labels or {}),
                "annotations": {},
                "createTime": created or now,
                "updateTime": now,
                "launchStage": "GA",
                "service": self.service_name(service_id),
                "scaling": {"maxInstanceCount": 100},
                "maxInstanceRequestConcurrency": 80,
                "timeout": "300s",
                "serviceAccount": f"emergence-run@{self.project}.iam.gserviceaccount.com",
                "containers": [
                    {
                        "name": "emergence-app-1",
                        "image": image,
                        "ports": [{"name": "http1", "containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "cpuIdle": True},
                    }
                ],
                "containerStatuses": [{"name": "emergence-app-1", "imageDigest": digest}],
                "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
                "logUri": f"https://console.cloud.google.com/logs/viewer?project={self.project}",
                "etag": '"' + now + '"',
            }
            svc.revisions[rid] = revision
            self._set_state(revision, state, now)
            data = svc.data
            data["generation"] = str(int(data["generation"]) + 1)
            data["observedGeneration"] = data["generation"]
            data["template"]["containers"][0]["image"] = image
            data["updateTime"] = now
            data["latestCreatedRevision"] = revision["name"]
            if state == "ready":
                data["latestReadyRevision"] = revision["name"]
            self._refresh(service_id)
            return rid

    def deploy_many(self, service_id: str, states: Iterable[str]) -> list[str]:
        """deploy() once per state, oldest first; returns the ids in that order."""
        return [self.deploy(service_id, state=state) for state in states]

    @staticmethod
    def _set_state(revision: dict[str, Any], state: str, now: str) -> None:
        condition_state, reconciling = _STATES[state]
        ready: dict[str, Any] = {
            "type": "Ready",
            "state": condition_state,
            "lastTransitionTime": now,
        }
        if state == "failed":
            ready["reason"] = "REVISION_FAILED"
            ready["message"] = (
                "The user-provided container failed to start and listen on the port defined "
                "provided by the PORT=8080 environment variable."
            )
            ready["severity"] = "ERROR"
        revision["conditions"] = [
            ready,
            {"type": "ContainerHealthy", "state": condition_state, "lastTransitionTime": now},
            {"type": "ResourcesAvailable", "state": condition_state, "lastTransitionTime": now},
        ]
        revision["reconciling"] = reconciling

    def set_revision_state(self, service_id: str, revision_id: str, state: str) -> None:
        with self._lock:
            svc = self._svc(service_id)
            revision = svc.revisions[revision_id]
            self._set_state(revision, state, self._tick())
            if state == "ready":
                newest_ready = self._newest_ready(svc)
                svc.data["latestReadyRevision"] = newest_ready or ""
            self._refresh(service_id)

    def set_traffic(self, service_id: str, traffic: list[dict[str, Any]]) -> None:
        """Replace `traffic` (use latest()/pinned()/tagged()); statuses are derived from it."""
        for target in traffic:
            if target.get("type") == REVISION and not target.get("revision"):
                raise ValueError("a REVISION traffic target needs a revision")
        with self._lock:
            svc = self._svc(service_id)
            svc.data["traffic"] = copy.deepcopy(traffic)
            svc.statuses_override = None
            svc.data["generation"] = str(int(svc.data["generation"]) + 1)
            svc.data["observedGeneration"] = svc.data["generation"]
            self._refresh(service_id)

    def set_traffic_statuses(self, service_id: str, statuses: list[dict[str, Any]]) -> None:
        """Force `trafficStatuses` (e.g. to model drift or an unfinished rollout)."""
        with self._lock:
            svc = self._svc(service_id)
            svc.statuses_override = copy.deepcopy(statuses)
            self._refresh(service_id)

    def set_template(self, service_id: str, **fields: Any) -> None:
        """Set fields of the service's `template` (a RevisionTemplate: containers, scaling,
        serviceAccount, timeout, annotations, ...) and of its latest revision alike, as a
        deploy with those settings leaves them (see gcloud_template())."""
        with self._lock:
            svc = self._svc(service_id)
            svc.data["template"].update(copy.deepcopy(fields))
            latest = svc.data.get("latestCreatedRevision", "").rsplit("/", 1)[-1]
            if latest in svc.revisions:
                svc.revisions[latest].update(
                    {k: copy.deepcopy(v) for k, v in fields.items() if k != "client"}
                )

    def update_service(self, service_id: str, **fields: Any) -> None:
        """Set top-level Service fields directly (e.g. reconciling=True, terminalCondition=...)."""
        with self._lock:
            self._svc(service_id).data.update(copy.deepcopy(fields))

    def remove_service(self, service_id: str) -> None:
        with self._lock:
            self._services.pop(service_id, None)

    def _newest_ready(self, svc: _Service) -> str | None:
        for revision in self._sorted(svc):
            if revision["conditions"][0]["state"] == "CONDITION_SUCCEEDED":
                return revision["name"]
        return None

    def _refresh(self, service_id: str) -> None:
        svc = self._services[service_id]
        data = svc.data
        if svc.statuses_override is not None:
            data["trafficStatuses"] = copy.deepcopy(svc.statuses_override)
            return
        latest_ready = data.get("latestReadyRevision", "").rsplit("/", 1)[-1]
        statuses = []
        for target in data.get("traffic", []):
            status: dict[str, Any] = {"type": target.get("type", LATEST)}
            if status["type"] == LATEST:
                if latest_ready and self.latest_status_names_revision:
                    status["revision"] = latest_ready
            else:
                status["revision"] = target.get("revision", "")
            if target.get("percent"):
                status["percent"] = target["percent"]
            if target.get("tag"):
                status["tag"] = target["tag"]
                status["uri"] = data["uri"].replace("https://", f"https://{target['tag']}---", 1)
            statuses.append(status)
        data["trafficStatuses"] = statuses

    # -- reading state (copies) ---------------------------------------------------------------

    def _svc(self, service_id: str) -> _Service:
        try:
            return self._services[service_id]
        except KeyError:
            raise KeyError(f"no service {service_id!r} in the fake") from None

    def service(self, service_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._svc(service_id).data)

    def revision(self, service_id: str, revision_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._svc(service_id).revisions[revision_id])

    def revision_ids(self, service_id: str) -> list[str]:
        """Ids, newest first (the order the API lists them in)."""
        with self._lock:
            return [r["name"].rsplit("/", 1)[-1] for r in self._sorted(self._svc(service_id))]

    @staticmethod
    def _sorted(svc: _Service) -> list[dict[str, Any]]:
        # Newest first; among equal createTimes, the later-created (higher number) first.
        order = {rid: i for i, rid in enumerate(svc.revisions)}
        return sorted(
            svc.revisions.values(),
            key=lambda r: (r["createTime"], order[r["name"].rsplit("/", 1)[-1]]),
            reverse=True,
        )

    # -- faults -------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int = 503,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: str | None = None,
        google_status: str | None = None,
    ) -> None:
        """The next `n` matching calls answer `status` (Google status name: `google_status`, or
        the usual one for that HTTP status)."""
        with self._lock:
            self._faults.append(
                _Fault(n, status, method, path_contains, retry_after, google_status)
            )

    def deny_deletes(self, permission: str = "run.revisions.delete") -> None:
        with self._lock:
            self._deny_deletes = permission

    def fail_delete(
        self, revision_id: str, status: int = 500, google_status: str = "INTERNAL"
    ) -> None:
        with self._lock:
            self._failing_deletes[revision_id] = (status, google_status)

    def fail_operation(self, revision_id: str) -> None:
        with self._lock:
            self._failing_operations.add(revision_id)

    def slow(self, seconds: float, n: int | None = None) -> None:
        with self._lock:
            self._slow = (seconds, n)

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._deny_deletes = None
            self._failing_deletes.clear()
            self._failing_operations.clear()
            self._slow = None

    # -- request log --------------------------------------------------------------------------

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (method is None or c.method == method)
                and (path_contains is None or path_contains in c.path)
            )

    def clear_log(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- the API ------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        raw_path: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One request: (HTTP status, JSON body, extra headers). Called by the HTTP handler."""
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        call = Call(method, parts.path, query, body)
        call.headers = {k.lower(): v for k, v in (headers or {}).items()}
        delay = 0.0
        with self._lock:
            self.calls.append(call)
            if self._slow is not None:
                seconds, remaining = self._slow
                delay = seconds
                if remaining is not None:
                    self._slow = (seconds, remaining - 1) if remaining > 1 else None
        if delay:
            time.sleep(delay)
        try:
            with self._lock:
                self._inject(method, parts.path)
                status, payload = self._route(method, parts.path, query)
            headers: dict[str, str] = {}
        except _Error as err:
            status = err.code
            payload = google_error(err.code, err.message, err.status, err.details)
            headers = err.headers
        call.status = status
        return status, payload, headers

    def _inject(self, method: str, path: str) -> None:
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.method and fault.method != method:
                continue
            if fault.path_contains and fault.path_contains not in path:
                continue
            fault.remaining -= 1
            status = fault.google_status or STATUS_NAMES.get(fault.status, "UNKNOWN")
            err = _Error(fault.status, status, "injected fault")
            if fault.status == 429:
                err.message = "Quota exceeded for quota metric 'Read requests' (injected)"
            if fault.retry_after is not None:
                err.headers["Retry-After"] = fault.retry_after
            raise err
        self._faults = [f for f in self._faults if f.remaining > 0]

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        prefix = f"/v2/{self.parent}/"
        if not path.startswith(prefix):
            m = re.match(r"^/v2/projects/([^/]+)/locations/([^/]+)/", path)
            if m:
                raise _Error(
                    404,
                    "NOT_FOUND",
                    f"Location {m.group(2)} of project {m.group(1)} is not served by this fake.",
                )
            raise _Error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
        rest = path[len(prefix) :].split("/")
        if rest[0] == "operations" and len(rest) == 2 and method == "GET":
            return 200, self._get_operation(f"{self.parent}/operations/{rest[1]}")
        if rest[0] != "services":
            raise _Error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
        if len(rest) == 1 and method == "GET":
            items = [copy.deepcopy(s.data) for _, s in sorted(self._services.items())]
            return 200, self._page(items, "services", query, self.parent + "/services")
        service_id = rest[1]
        svc = self._services.get(service_id)
        if svc is None:
            raise _Error(
                404,
                "NOT_FOUND",
                f"Resource '{service_id}' of kind 'SERVICE' in region '{self.location}' "
                f"in project '{self.project}' does not exist.",
            )
        if len(rest) == 2 and method == "GET":
            return 200, copy.deepcopy(svc.data)
        if len(rest) == 3 and rest[2] == "revisions" and method == "GET":
            items = [copy.deepcopy(r) for r in self._sorted(svc)]
            return 200, self._page(items, "revisions", query, svc.data["name"])
        if len(rest) == 4 and rest[2] == "revisions":
            revision_id = rest[3]
            if method == "GET":
                revision = svc.revisions.get(revision_id)
                if revision is None:
                    raise self._revision_missing(revision_id)
                return 200, copy.deepcopy(revision)
            if method == "DELETE":
                return 200, self._delete_revision(svc, revision_id, query)
        raise _Error(404, "NOT_FOUND", f"The requested URL {path} was not found (method {method}).")

    def _revision_missing(self, revision_id: str) -> _Error:
        return _Error(
            404,
            "NOT_FOUND",
            f"Resource '{revision_id}' of kind 'REVISION' in region '{self.location}' "
            f"in project '{self.project}' does not exist.",
        )

    def _page(
        self, items: list[dict[str, Any]], key: str, query: dict[str, str], scope: str
    ) -> dict[str, Any]:
        try:
            size = int(query.get("pageSize") or 0)
        except ValueError:
            raise _Error(400, "INVALID_ARGUMENT", "Invalid value for pageSize") from None
        if size <= 0:
            size = self.default_page_size
        size = min(size, self.max_page_size)
        offset = 0
        token = query.get("pageToken")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                if decoded["scope"] != scope:
                    raise ValueError("token from another list")
                offset = int(decoded["offset"])
            except (ValueError, KeyError, TypeError):
                raise _Error(400, "INVALID_ARGUMENT", "Invalid page token") from None
        page: dict[str, Any] = {key: items[offset : offset + size]}
        if offset + size < len(items):
            raw = json.dumps({"scope": scope, "offset": offset + size}).encode()
            page["nextPageToken"] = base64.urlsafe_b64encode(raw).decode()
        return page

    def _delete_revision(
        self, svc: _Service, revision_id: str, query: dict[str, str]
    ) -> dict[str, Any]:
        name = self.revision_name(svc.service_id, revision_id)
        if self._deny_deletes:
            raise _Error(
                403,
                "PERMISSION_DENIED",
                f"Permission '{self._deny_deletes}' denied on resource '{name}' "
                "(or resource may not exist).",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "run.googleapis.com",
                        "metadata": {"permission": self._deny_deletes, "resource": name},
                    }
                ],
            )
        revision = svc.revisions.get(revision_id)
        if revision is None:
            raise self._revision_missing(revision_id)
        if revision_id in self._failing_deletes:
            code, status = self._failing_deletes[revision_id]
            raise _Error(code, status, f"Deleting revision {revision_id} failed (injected).")
        for status in svc.data.get("trafficStatuses", []):
            if status.get("revision", "").rsplit("/", 1)[-1] != revision_id:
                continue
            if status.get("percent") or status.get("tag"):
                raise _Error(
                    400,
                    "FAILED_PRECONDITION",
                    f"Revision {revision_id} is receiving traffic or is referenced by a tag and "
                    "cannot be deleted. Route its traffic elsewhere and remove its tag first.",
                )
        now = self._tick()
        snapshot = copy.deepcopy(revision)
        metadata = {"@type": REVISION_TYPE, **snapshot}
        op_name = f"{self.parent}/operations/{uuid.uuid4()}"
        if query.get("validateOnly") == "true":
            return {
                "name": op_name,
                "metadata": metadata,
                "done": True,
                "response": {"@type": REVISION_TYPE, **snapshot},
            }
        final: dict[str, Any] = {"name": op_name, "metadata": metadata, "done": True}
        if revision_id in self._failing_operations:
            final["error"] = {
                "code": 13,
                "message": f"Revision {revision_id} could not be deleted (injected).",
            }
        else:
            del svc.revisions[revision_id]
            final["response"] = {"@type": REVISION_TYPE, **snapshot, "deleteTime": now}
        self._op_final[op_name] = final
        self._op_polls[op_name] = self.operation_polls
        if self.operation_polls <= 0:
            return copy.deepcopy(final)
        self._operations[op_name] = {"name": op_name, "metadata": metadata, "done": False}
        return copy.deepcopy(self._operations[op_name])

    def _get_operation(self, name: str) -> dict[str, Any]:
        if name not in self._op_final:
            raise _Error(404, "NOT_FOUND", f"Operation {name} not found.")
        self._op_polls[name] -= 1
        if self._op_polls[name] <= 0:
            return copy.deepcopy(self._op_final[name])
        return copy.deepcopy(self._operations[name])
