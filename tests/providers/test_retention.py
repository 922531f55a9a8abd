"""The retention dynamic provider (infra/providers/retention.py) called directly against the fake
Cloud Run API: create/update/diff/check/delete, dry run, 403, partial failures, paging and API-call
counts.
(Under Pulumi mocks the provider never runs, so this is where its behaviour is tested.)"""

from __future__ import annotations

import math

import dill
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from infra.google import client as gcp_api
from infra.google.cloud_run import CloudRunRevisions, ServiceRef
from infra.providers.retention import INPUT_KEYS, RetentionError, RetentionProvider, run_retention
from infra.rules.retention import plan_retention, revision_from_api, service_from_api
from tests.fakes.cloud_run import PROJECT, FakeCloudRun, latest, pinned, tagged
from tests.retention_helpers import Scenario, scenarios

SERVICE = "emergence-app"
LOCATION = "europe-west1"


@pytest.fixture
def no_wait(monkeypatch):
    """Clients made by the provider do not really sleep between retries and operation polls."""
    sleeps: list[float] = []
    real = gcp_api.cloud_run_client

    def factory(**kwargs):
        kwargs.setdefault("sleep", sleeps.append)
        return real(**kwargs)

    monkeypatch.setattr(gcp_api, "cloud_run_client", factory)
    return sleeps


def props(fake: FakeCloudRun, **overrides) -> dict:
    base = {
        "project": PROJECT,
        "location": LOCATION,
        "service": SERVICE,
        "revisionsToKeep": 3.0,  # numbers arrive from the engine as floats
        "dryRun": False,
        "pinnedRevision": "",
        "latestRevision": fake.service(SERVICE)["latestReadyRevision"] if fake else "",
        "imageDigest": "sha256:abc",
        "operationTimeoutSeconds": 300.0,
        "__provider": "serialized-provider",
    }
    base.update(overrides)
    return base


def deployed(fake: FakeCloudRun, states: list[str]) -> list[str]:
    """Revisions deployed oldest first; returns their ids newest first."""
    fake.deploy_many(SERVICE, states)
    return fake.revision_ids(SERVICE)


# -- create / update ----------------------------------------------------------------------------


def test_create_keeps_three_and_deletes_the_rest(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 6)
    result = RetentionProvider().create(props(fake_cloud_run))
    assert result.id == f"{PROJECT}/{LOCATION}/{SERVICE}"
    assert fake_cloud_run.revision_ids(SERVICE) == ids[:3]
    outs = result.outs
    assert [d["name"] for d in outs["deleted"]] == ids[3:]
    assert [d["name"] for d in outs["kept"]] == ids[:3]
    assert all(d["reason"] for d in outs["kept"] + outs["deleted"])
    assert outs["failed"] == [] and outs["wouldDelete"] == []
    assert outs["summary"] == "kept 3, deleted 3 (revisionsToKeep=3)"
    # outputs echo every input, so the next diff compares like with like
    assert {k: outs[k] for k in INPUT_KEYS} == {k: props(fake_cloud_run)[k] for k in INPUT_KEYS}
    # 1 service GET + 1 list page + 3 x (DELETE + 1 operation poll)
    assert outs["apiCalls"] == fake_cloud_run.count() == 8
    assert fake_cloud_run.count("DELETE") == 3
    assert fake_cloud_run.count("GET", "/operations/") == 3


def test_update_runs_again_and_a_second_run_deletes_nothing(fake_cloud_run, no_wait):
    deployed(fake_cloud_run, ["ready"] * 4)
    provider = RetentionProvider()
    first = provider.create(props(fake_cloud_run, revisionsToKeep=2.0))
    assert len(first.outs["deleted"]) == 2
    fake_cloud_run.clear_log()
    again = provider.update(first.id, first.outs, props(fake_cloud_run, revisionsToKeep=2.0))
    assert again.outs["deleted"] == []
    assert fake_cloud_run.count("DELETE") == 0
    assert again.outs["apiCalls"] == 2  # service + one list page
    new_rev = fake_cloud_run.deploy(SERVICE)
    update = provider.update(first.id, again.outs, props(fake_cloud_run, revisionsToKeep=2.0))
    assert len(update.outs["deleted"]) == 1
    assert fake_cloud_run.revision_ids(SERVICE)[0] == new_rev
    assert len(fake_cloud_run.revision_ids(SERVICE)) == 2


def test_dry_run_deletes_nothing_and_says_what_it_would_delete(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 5 + ["failed"])
    outs = RetentionProvider().create(props(fake_cloud_run, dryRun=True)).outs
    assert fake_cloud_run.count("DELETE") == 0
    assert fake_cloud_run.revision_ids(SERVICE) == ids
    assert [d["name"] for d in outs["wouldDelete"]] == ids[4:]
    assert outs["deleted"] == []
    assert outs["summary"] == "kept 4, would delete 2 (revisionsToKeep=3)"


def test_protected_revisions_survive_and_the_count_break_is_reported(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 7)  # newest first
    fake_cloud_run.set_traffic(SERVICE, [latest(90), pinned(ids[5], 10), tagged(ids[4], "qa")])
    outs = (
        RetentionProvider()
        .create(props(fake_cloud_run, revisionsToKeep=1.0, pinnedRevision=ids[6]))
        .outs
    )
    remaining = fake_cloud_run.revision_ids(SERVICE)
    assert remaining == [ids[0], ids[4], ids[5], ids[6]]
    kept = {d["name"]: d["reason"] for d in outs["kept"]}
    assert "serves 10% of traffic" in kept[ids[5]]
    assert "tagged 'qa'" in kept[ids[4]]
    assert "pinned rollback target" in kept[ids[6]]
    assert any(
        "keeping 4 ready revisions although revisionsToKeep=1" in w for w in outs["warnings"]
    )


def test_failed_revisions_older_than_the_newest_ready_go_and_newer_ones_stay(
    fake_cloud_run, no_wait
):
    ids = deployed(fake_cloud_run, ["failed", "ready", "ready", "failed", "pending"])
    outs = RetentionProvider().create(props(fake_cloud_run, revisionsToKeep=1.0)).outs
    assert [d["name"] for d in outs["deleted"]] == [ids[3], ids[4]]
    assert fake_cloud_run.revision_ids(SERVICE) == ids[:3]


def test_pages_are_followed(no_wait, monkeypatch):
    with FakeCloudRun(default_page_size=2, max_page_size=2) as fake:
        monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", fake.url)
        ids = deployed(fake, ["ready"] * 7)
        outs = RetentionProvider().create(props(fake)).outs
        assert fake.count("GET", "/revisions") == 4  # ceil(7 / 2) pages
        assert [d["name"] for d in outs["deleted"]] == ids[3:]


# -- failures -----------------------------------------------------------------------------------


def test_403_names_the_permission_and_changes_nothing(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 6)
    fake_cloud_run.deny_deletes()
    with pytest.raises(RetentionError) as info:
        RetentionProvider().create(props(fake_cloud_run))
    message = str(info.value)
    assert "run.revisions.delete" in message
    assert "403 PERMISSION_DENIED" in message
    assert "Nothing was deleted" in message
    assert fake_cloud_run.revision_ids(SERVICE) == ids
    assert fake_cloud_run.count("DELETE") == 1  # it stops at the first refusal


def test_one_failed_delete_does_not_stop_the_others(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 7)
    fake_cloud_run.fail_operation(ids[4])
    fake_cloud_run.fail_delete(ids[5], 500)
    with pytest.raises(RetentionError) as info:
        RetentionProvider().create(props(fake_cloud_run))
    message = str(info.value)
    assert fake_cloud_run.revision_ids(SERVICE) == [*ids[:3], ids[4], ids[5]]
    assert f"deleted  {ids[3]}" in message and f"deleted  {ids[6]}" in message
    assert f"FAILED   {ids[4]}" in message and f"FAILED   {ids[5]}" in message
    assert "kept 3, deleted 2, failed 2" in message
    # the 500s were retried (bounded), the operation error was not
    assert fake_cloud_run.count("DELETE", ids[5]) == 5
    assert fake_cloud_run.count("DELETE", ids[4]) == 1


def test_a_revision_that_became_undeletable_or_vanished_is_not_a_failure(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 5)
    fake_cloud_run.fail_next(
        1, 400, method="DELETE", path_contains=ids[3], google_status="FAILED_PRECONDITION"
    )
    fake_cloud_run.fail_next(1, 404, method="DELETE", path_contains=ids[4])
    outs = RetentionProvider().create(props(fake_cloud_run)).outs
    assert outs["deleted"] == [
        {"name": ids[4], "reason": "ready, older than the 3 newest ready revisions (already gone)"}
    ]
    assert any(d["name"] == ids[3] and "Cloud Run refused" in d["reason"] for d in outs["kept"])
    assert any(ids[3] in w for w in outs["warnings"])


def test_429_and_503_are_retried(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 4)
    fake_cloud_run.fail_next(1, 429, path_contains="/revisions", retry_after="2")
    fake_cloud_run.fail_next(2, 503, method="DELETE")
    outs = RetentionProvider().create(props(fake_cloud_run)).outs
    assert [d["name"] for d in outs["deleted"]] == [ids[3]]
    assert 2.0 in no_wait  # Retry-After honoured
    assert outs["apiCalls"] == 1 + 2 + 3 + 1  # service, list+retry, 3 DELETEs, 1 poll


def test_listing_refused_names_the_permission(fake_cloud_run, no_wait):
    deployed(fake_cloud_run, ["ready"])
    fake_cloud_run.fail_next(1, 403, path_contains="/revisions")
    with pytest.raises(RetentionError, match=r"run\.revisions\.list"):
        RetentionProvider().create(props(fake_cloud_run))


def test_a_missing_service_is_a_clear_error(fake_cloud_run, no_wait):
    with pytest.raises(
        RetentionError, match="does not exist: check emergence-cloudrun:serviceName"
    ):
        RetentionProvider().create(props(None))


def test_delete_removes_no_revision(fake_cloud_run, no_wait):
    ids = deployed(fake_cloud_run, ["ready"] * 5)
    RetentionProvider().delete(f"{PROJECT}/{LOCATION}/{SERVICE}", props(fake_cloud_run))
    assert fake_cloud_run.revision_ids(SERVICE) == ids
    assert fake_cloud_run.count() == 0


# -- diff / check -------------------------------------------------------------------------------


def test_diff_runs_only_when_a_trigger_or_setting_changes():
    provider = RetentionProvider()
    olds = {**props(None, latestRevision="rev-1"), "kept": [], "summary": "x", "apiCalls": 3}
    same = props(None, latestRevision="rev-1", revisionsToKeep=3)  # 3 == 3.0
    assert provider.diff("id", olds, same).changes is False
    for key, value in [
        ("latestRevision", "rev-2"),
        ("imageDigest", "sha256:def"),
        ("revisionsToKeep", 2.0),
        ("dryRun", True),
        ("pinnedRevision", "rev-0"),
        ("latestRevision", rpc.UNKNOWN),  # preview of a deploy: unknown until the service updates
    ]:
        result = provider.diff("id", olds, {**same, key: value})
        assert result.changes is True, key
        assert result.replaces == []
    moved = provider.diff("id", olds, {**same, "service": "other"})
    assert moved.changes is True and moved.replaces == ["service"]


@pytest.mark.parametrize("keep", [0, 4, 2.5, "three", None])
def test_check_rejects_a_bad_count(keep):
    result = RetentionProvider().check({}, props(None, revisionsToKeep=keep))
    assert [f.property for f in result.failures] == ["revisionsToKeep"]
    assert "emergence-cloudrun:revisionsToKeep must be 1..3" in result.failures[0].reason


@pytest.mark.parametrize("keep", [1, 3.0, rpc.UNKNOWN])
def test_check_accepts_a_good_or_unknown_count(keep):
    assert RetentionProvider().check({}, props(None, revisionsToKeep=keep)).failures == []


def test_the_provider_pickles_without_any_client_or_credentials():
    blob = serialize_provider(RetentionProvider())
    provider = dill.loads(__import__("base64").b64decode(blob))
    assert isinstance(provider, RetentionProvider)
    assert vars(provider) == {}


# -- property: the whole run against the fake, with random revision sets and page sizes -----------

_STATE = {"ready": "ready", "failed": "failed", "in-progress": "pending"}


def _seed(fake: FakeCloudRun, s: Scenario) -> None:
    fake.add_service(SERVICE)
    for name in reversed(s.names()):  # oldest first
        created = f"2025-03-01T00:{s.minutes[name] // 60:02d}:{s.minutes[name] % 60:02d}.000000Z"
        fake.deploy(SERVICE, state=_STATE[s.kinds[name]], revision_id=name, create_time=created)
    svc = fake.service_name(SERVICE)
    fake.update_service(
        SERVICE,
        latestCreatedRevision=f"{svc}/revisions/{s.latest_created}" if s.latest_created else "",
        latestReadyRevision=f"{svc}/revisions/{s.latest_ready}" if s.latest_ready else "",
    )
    fake.set_traffic(SERVICE, s.traffic)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_revisions=14, allow_odd=False), st.integers(1, 5), st.integers(0, 2))
def test_property_runs_against_the_fake(s: Scenario, page_size: int, polls: int):
    with FakeCloudRun(
        default_page_size=page_size, max_page_size=page_size, operation_polls=polls
    ) as fake:
        _seed(fake, s)
        plan = plan_retention(
            [revision_from_api(fake.revision(SERVICE, n)) for n in fake.revision_ids(SERVICE)],
            service_from_api(fake.service(SERVICE)),
            s.keep,
            s.pinned,
        )
        client = gcp_api.GoogleApiClient(fake.url, sleep=lambda _s: None)
        api = CloudRunRevisions(client, ServiceRef(PROJECT, LOCATION, SERVICE))
        report = run_retention(api, s.keep, pinned=s.pinned)

        remaining = set(fake.revision_ids(SERVICE))
        assert s.expected_protected() & set(s.names()) <= remaining
        assert remaining == {d.name for d in plan.keep}
        deletes = len(plan.delete)
        pages = max(1, math.ceil(len(s.names()) / page_size))
        assert report.api_calls == 1 + pages + deletes * (1 + max(polls, 0)) == fake.count()
        assert fake.count("DELETE") == len({c.path for c in fake.calls if c.method == "DELETE"})

        fake.clear_log()
        again = run_retention(api, s.keep, pinned=s.pinned)
        assert again.deleted == [] and fake.count("DELETE") == 0
