"""The fake Cloud Run Admin API cannot drift from the real one: every JSON answer it gives is
checked against the Cloud Run v2 discovery document, and every URL it serves against the
document's method paths. Plus the behaviours tests rely on (paging, ordering, refusals)."""

from __future__ import annotations

import requests

from tests.discovery_helpers import (
    load_discovery,
    method,
    method_http,
    method_path_regex,
    schema_problems,
)
from tests.fakes.cloud_run import (
    REVISION,
    FakeCloudRun,
    latest,
    pinned,
    tagged,
)
from tests.fakes.cloud_run import (
    REVISION_TYPE as REVISION_ANY,
)

SERVICE = "emergence-app"
CANONICAL = {
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
}  # fmt: skip

# The fake's routes and the discovery methods they implement.
METHODS = {
    "services_list": "projects.locations.services.list",
    "services_get": "projects.locations.services.get",
    "revisions_list": "projects.locations.services.revisions.list",
    "revisions_get": "projects.locations.services.revisions.get",
    "revisions_delete": "projects.locations.services.revisions.delete",
    "operations_get": "projects.locations.operations.get",
}
RESPONSES = {
    "services_list": "GoogleCloudRunV2ListServicesResponse",
    "services_get": "GoogleCloudRunV2Service",
    "revisions_list": "GoogleCloudRunV2ListRevisionsResponse",
    "revisions_get": "GoogleCloudRunV2Revision",
    "revisions_delete": "GoogleLongrunningOperation",
    "operations_get": "GoogleLongrunningOperation",
}


def call(fake: FakeCloudRun, method: str, path: str, **params) -> requests.Response:
    return requests.request(method, f"{fake.url}/{path}", params=params, timeout=10)


def seeded(fake: FakeCloudRun) -> dict[str, str]:
    """Every kind of revision and traffic target the fake can produce."""
    fake.add_service(SERVICE, labels={"app": "emergence"})
    fake.add_service("other-service")
    ids = fake.deploy_many(SERVICE, ["ready", "failed", "ready", "ready", "pending"])
    fake.deploy("other-service")
    fake.set_traffic(SERVICE, [pinned(ids[2], 60), latest(40, tag="edge"), tagged(ids[0], "old")])
    return {"oldest": ids[0], "failed": ids[1], "pinned": ids[2], "latest_ready": ids[3]}


def test_every_answer_follows_the_discovery_schema(fake_cloud_run):
    doc = load_discovery("run.v2")
    ids = seeded(fake_cloud_run)
    fake_cloud_run.deploy(SERVICE)  # so that the former latest ready revision is deletable
    deletable = ids["latest_ready"]
    fake_cloud_run.set_traffic(
        SERVICE, [pinned(ids["pinned"], 60), latest(40), tagged(ids["oldest"], "old")]
    )
    fake_cloud_run.operation_polls = 2
    service = fake_cloud_run.service_name(SERVICE)
    answers = {
        "services_list": call(fake_cloud_run, "GET", f"v2/{fake_cloud_run.parent}/services"),
        "services_get": call(fake_cloud_run, "GET", f"v2/{service}"),
        "revisions_list": call(fake_cloud_run, "GET", f"v2/{service}/revisions", pageSize=2),
        "revisions_get": call(fake_cloud_run, "GET", f"v2/{service}/revisions/{ids['failed']}"),
    }
    operation = call(fake_cloud_run, "DELETE", f"v2/{service}/revisions/{ids['failed']}")
    answers["revisions_delete"] = operation
    name = operation.json()["name"]
    pending = call(fake_cloud_run, "GET", f"v2/{name}")
    done = call(fake_cloud_run, "GET", f"v2/{name}")
    fake_cloud_run.fail_operation(deletable)
    failing = call(fake_cloud_run, "DELETE", f"v2/{service}/revisions/{deletable}")
    call(fake_cloud_run, "GET", f"v2/{failing.json()['name']}")
    failed = call(fake_cloud_run, "GET", f"v2/{failing.json()['name']}")

    for key, response in answers.items():
        assert response.status_code == 200, (key, response.text)
        assert schema_problems(doc, RESPONSES[key], response.json(), key) == []
    for response in (pending, done, failed):
        assert schema_problems(doc, "GoogleLongrunningOperation", response.json()) == []
    assert pending.json()["done"] is False
    assert done.json()["done"] is True and "response" in done.json()
    assert failed.json()["error"]["code"] == 13

    # The fields that the client code reads are really there.
    svc = answers["services_get"].json()
    for field in ("traffic", "trafficStatuses", "latestReadyRevision", "latestCreatedRevision"):
        assert svc[field], field
    assert svc["uri"].startswith("https://")
    revision = answers["revisions_get"].json()
    assert revision["conditions"][0]["type"] == "Ready"
    assert revision["containers"][0]["image"]
    assert {"name", "uid", "createTime", "labels", "reconciling"} <= revision.keys()


def test_every_served_url_is_a_discovery_method_path(fake_cloud_run):
    doc = load_discovery("run.v2")
    ids = seeded(fake_cloud_run)
    service = fake_cloud_run.service_name(SERVICE)
    call(fake_cloud_run, "GET", f"v2/{fake_cloud_run.parent}/services")
    call(fake_cloud_run, "GET", f"v2/{service}")
    call(fake_cloud_run, "GET", f"v2/{service}/revisions")
    call(fake_cloud_run, "GET", f"v2/{service}/revisions/{ids['failed']}")
    op = call(fake_cloud_run, "DELETE", f"v2/{service}/revisions/{ids['failed']}").json()
    call(fake_cloud_run, "GET", f"v2/{op['name']}")
    patterns = {key: method_path_regex(doc, dotted) for key, dotted in METHODS.items()}
    served = set()
    for logged in fake_cloud_run.calls:
        assert logged.status == 200, logged
        matches = [
            key
            for key, pattern in patterns.items()
            if pattern.match(logged.path) and method_http(doc, METHODS[key]) == logged.method
        ]
        assert matches, f"{logged.method} {logged.path} is not a Cloud Run v2 method"
        served.update(matches)
    assert served == set(METHODS)
    # The query parameters the fake understands are the documented ones.
    listed = method(doc, METHODS["revisions_list"])["parameters"]
    assert {"pageSize", "pageToken"} <= listed.keys()


def test_error_bodies_follow_google_json_errors(fake_cloud_run):
    doc = load_discovery("run.v2")
    ids = seeded(fake_cloud_run)
    service = fake_cloud_run.service_name(SERVICE)
    fake_cloud_run.fail_next(1, 429, retry_after="2")
    errors = [
        call(fake_cloud_run, "GET", f"v2/{service}"),
        call(fake_cloud_run, "GET", f"v2/{service}/revisions/nope"),
        call(fake_cloud_run, "DELETE", f"v2/{service}/revisions/{ids['pinned']}"),
        call(fake_cloud_run, "GET", f"v2/{service}/revisions", pageToken="garbage"),
    ]
    fake_cloud_run.deny_deletes()
    errors.append(call(fake_cloud_run, "DELETE", f"v2/{service}/revisions/{ids['failed']}"))
    assert [e.status_code for e in errors] == [429, 404, 400, 400, 403]
    assert errors[0].headers["Retry-After"] == "2"
    for response in errors:
        body = response.json()
        assert body.keys() == {"error"}
        error = dict(body["error"])
        assert error.pop("status") in CANONICAL
        assert error["code"] == response.status_code
        assert schema_problems(doc, "GoogleRpcStatus", error) == []
    assert errors[2].json()["error"]["status"] == "FAILED_PRECONDITION"
    assert errors[4].json()["error"]["details"][0]["metadata"]["permission"] == (
        "run.revisions.delete"
    )


def test_revisions_are_listed_newest_first_across_pages():
    with FakeCloudRun(default_page_size=4) as fake:
        ids = fake.deploy_many(SERVICE, ["ready"] * 10)
        names, token, pages = [], None, 0
        while True:
            params = {"pageToken": token} if token else {}
            page = call(fake, "GET", f"v2/{fake.service_name(SERVICE)}/revisions", **params).json()
            pages += 1
            names += [r["name"].rsplit("/", 1)[-1] for r in page["revisions"]]
            token = page.get("nextPageToken")
            if not token:
                break
        assert names == list(reversed(ids))
        assert pages == 3
        created = [fake.revision(SERVICE, n)["createTime"] for n in names]
        assert created == sorted(created, reverse=True)


def test_page_size_is_capped():
    with FakeCloudRun(max_page_size=3) as fake:
        fake.deploy_many(SERVICE, ["ready"] * 5)
        page = call(fake, "GET", f"v2/{fake.service_name(SERVICE)}/revisions", pageSize=50).json()
        assert len(page["revisions"]) == 3 and page["nextPageToken"]


def test_a_tagged_revision_without_traffic_cannot_be_deleted(fake_cloud_run):
    ids = fake_cloud_run.deploy_many(SERVICE, ["ready", "ready"])
    fake_cloud_run.set_traffic(SERVICE, [latest(), tagged(ids[0], "old")])
    response = call(
        fake_cloud_run, "DELETE", f"v2/{fake_cloud_run.service_name(SERVICE)}/revisions/{ids[0]}"
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert ids[0] in fake_cloud_run.revision_ids(SERVICE)


def test_validate_only_deletes_nothing(fake_cloud_run):
    ids = fake_cloud_run.deploy_many(SERVICE, ["ready", "ready"])
    response = call(
        fake_cloud_run,
        "DELETE",
        f"v2/{fake_cloud_run.service_name(SERVICE)}/revisions/{ids[0]}",
        validateOnly="true",
    )
    assert response.json()["done"] is True
    assert fake_cloud_run.revision_ids(SERVICE) == list(reversed(ids))


def test_traffic_statuses_resolve_latest_and_tags(fake_cloud_run):
    ids = fake_cloud_run.deploy_many(SERVICE, ["ready", "ready", "failed"])
    fake_cloud_run.set_traffic(SERVICE, [latest(90), pinned(ids[0], 10, tag="prev")])
    svc = fake_cloud_run.service(SERVICE)
    assert svc["latestReadyRevision"].endswith(f"/revisions/{ids[1]}")
    assert svc["latestCreatedRevision"].endswith(f"/revisions/{ids[2]}")
    statuses = svc["trafficStatuses"]
    assert statuses[0]["revision"] == ids[1] and statuses[0]["percent"] == 90
    assert statuses[1] == {
        "type": REVISION,
        "revision": ids[0],
        "percent": 10,
        "tag": "prev",
        "uri": svc["uri"].replace("https://", "https://prev---"),
    }
    fake_cloud_run.set_traffic_statuses(SERVICE, [{"type": REVISION, "revision": ids[0]}])
    assert fake_cloud_run.service(SERVICE)["trafficStatuses"][0]["revision"] == ids[0]


def test_faults_and_the_request_log(fake_cloud_run):
    fake_cloud_run.deploy(SERVICE)
    path = f"v2/{fake_cloud_run.service_name(SERVICE)}"
    fake_cloud_run.fail_next(2, 503, method="GET", path_contains="/revisions")
    assert call(fake_cloud_run, "GET", path).status_code == 200  # path does not match
    assert call(fake_cloud_run, "GET", path + "/revisions").status_code == 503
    assert call(fake_cloud_run, "GET", path + "/revisions").status_code == 503
    assert call(fake_cloud_run, "GET", path + "/revisions").status_code == 200
    assert fake_cloud_run.count() == 4
    assert fake_cloud_run.count("GET", "/revisions") == 3
    fake_cloud_run.clear_log()
    assert fake_cloud_run.count() == 0


def test_the_schema_check_catches_drift():
    doc = load_discovery("run.v2")
    drifted = {
        "name": "projects/p/locations/l/services/s/revisions/r",
        "containerImage": "x",  # not a field
        "conditions": [{"type": "Ready", "state": "READY"}],  # not an enum value
        "generation": 1,  # int64 is a JSON string
        "labels": {"a": 1},  # label values are strings
        "containers": [{"image": "x", "port": 8080}],  # nested unknown field
    }
    problems = schema_problems(doc, "GoogleCloudRunV2Revision", drifted)
    assert len(problems) == 5, problems
    assert any("containerImage" in p for p in problems)
    assert any("'READY'" in p for p in problems)
    assert any("containers[0].port" in p for p in problems)
    operation = {"name": "op", "done": True, "response": {"@type": REVISION_ANY, "nmae": "typo"}}
    assert schema_problems(doc, "GoogleLongrunningOperation", operation) != []


def test_services_shaped_like_gcloud_and_like_pulumi_up_follow_the_discovery_schema(
    fake_cloud_run,
):
    """The services `python -m infra adopt` is tested against (tests/adopt_helpers.py)."""
    from infra.mockrun import evaluate
    from tests.adopt_helpers import deploy_as_declared, seed_live_production

    doc = load_discovery("run.v2")
    seed_live_production(fake_cloud_run)
    service = fake_cloud_run.service_name(SERVICE)
    live = call(fake_cloud_run, "GET", f"v2/{service}").json()
    assert schema_problems(doc, "GoogleCloudRunV2Service", live) == []
    revision = call(fake_cloud_run, "GET", f"v2/{service}/revisions/emergence-app-00348-rih")
    assert schema_problems(doc, "GoogleCloudRunV2Revision", revision.json()) == []
    env = {e["name"]: e for e in live["template"]["containers"][0]["env"]}
    assert env["OPENAI_API_KEY"]["valueSource"]["secretKeyRef"] == {
        "secret": "OPENAI_API_KEY",
        "version": "5",
    }
    assert live["client"] == "gcloud" and live["template"]["annotations"]

    fake_cloud_run.remove_service(SERVICE)
    up = evaluate("prod", config={"adoptExisting": True}, secrets={"smtpPassword": "x"})
    deploy_as_declared(fake_cloud_run, up.one("gcp:cloudrunv2/service:Service").inputs)
    declared = call(fake_cloud_run, "GET", f"v2/{service}").json()
    assert schema_problems(doc, "GoogleCloudRunV2Service", declared) == []
