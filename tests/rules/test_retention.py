"""The retention decision (infra/rules/retention.py): examples, then hypothesis properties over
random revision sets (ready/failed/in-progress, traffic splits, tags, pinned target, any order)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.rules.retention import (
    DELETE,
    FAILED,
    IN_PROGRESS,
    KEEP,
    READY,
    Revision,
    ServiceView,
    parse_time,
    plan_retention,
    revision_from_api,
    service_from_api,
)
from tests.retention_helpers import LATEST, PARENT, REVISION, Scenario, scenarios

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def rev(n: int, state: str = READY, name: str | None = None) -> Revision:
    return Revision(
        name=name or f"app-{n:05d}",
        create_time=T0 + dt.timedelta(minutes=n),
        state=state,
        ready_state={READY: "CONDITION_SUCCEEDED", FAILED: "CONDITION_FAILED"}.get(state, ""),
    )


def actions(plan) -> dict[str, str]:
    return {d.name: d.action for d in plan.decisions}


def plan_of(s: Scenario):
    revisions = [revision_from_api(r) for r in s.revisions]
    return plan_retention(revisions, service_from_api(s.service_json()), s.keep, s.pinned)


# -- examples -----------------------------------------------------------------------------------


def test_keeps_the_three_newest_ready_and_deletes_older_ones():
    revisions = [rev(n) for n in range(1, 7)]
    view = ServiceView(
        percents={"app-00006": 100}, latest_created="app-00006", latest_ready="app-00006"
    )
    plan = plan_retention(revisions, view, 3)
    assert actions(plan) == {
        "app-00006": KEEP,
        "app-00005": KEEP,
        "app-00004": KEEP,
        "app-00003": DELETE,
        "app-00002": DELETE,
        "app-00001": DELETE,
    }
    assert [d.name for d in plan.decisions] == [f"app-{n:05d}" for n in range(6, 0, -1)]
    assert plan.decisions[1].reason == "one of the 3 newest ready revisions (#2)"
    assert plan.delete[0].reason == "ready, older than the 3 newest ready revisions"
    assert "serves 100% of traffic" in plan.decisions[0].reason
    assert plan.warnings == ()
    assert plan.summary() == "6 revisions: keep 3 (3 ready, revisionsToKeep=3), delete 3"


@pytest.mark.parametrize(
    ("view", "pinned", "why"),
    [
        (ServiceView(percents={"app-00001": 10}), "", "serves 10% of traffic"),
        (ServiceView(tags={"app-00001": ("old",)}), "", "tagged 'old'"),
        (ServiceView(latest_created="app-00001"), "", "latest created revision"),
        (ServiceView(latest_ready="app-00001"), "", "latest ready revision"),
        (ServiceView(), "app-00001", "pinned rollback target"),
        (ServiceView(), "projects/p/locations/l/services/s/revisions/app-00001", "pinned"),
    ],
)
def test_protected_revisions_are_kept_even_beyond_the_count(view, pinned, why):
    revisions = [rev(n) for n in range(1, 6)]
    plan = plan_retention(revisions, view, 1, pinned)
    oldest = next(d for d in plan.decisions if d.name == "app-00001")
    assert oldest.action == KEEP
    assert why in oldest.reason
    assert "older than the 1 newest ready revisions but protected" in oldest.reason
    assert [d.name for d in plan.delete] == ["app-00004", "app-00003", "app-00002"]
    assert plan.warnings and "revisionsToKeep=1" in plan.warnings[0]
    assert "app-00001" in plan.warnings[0]


def test_failed_revisions_older_than_the_newest_ready_are_deleted():
    revisions = [rev(1), rev(2, FAILED), rev(3), rev(4, FAILED), rev(5, IN_PROGRESS)]
    view = ServiceView(latest_created="app-00005", latest_ready="app-00003")
    plan = plan_retention(revisions, view, 3)
    assert actions(plan) == {
        "app-00005": KEEP,
        "app-00004": KEEP,  # failed, newer than the newest ready: shows why the deploy failed
        "app-00003": KEEP,
        "app-00002": DELETE,
        "app-00001": KEEP,
    }
    by_name = {d.name: d.reason for d in plan.decisions}
    assert by_name["app-00002"] == "failed, older than the newest ready revision"
    assert by_name["app-00004"].startswith("failed, newer than the newest ready")
    assert by_name["app-00005"].startswith("still being created")


def test_a_revision_still_being_created_is_left_alone_even_when_old():
    revisions = [rev(1, IN_PROGRESS), rev(2), rev(3), rev(4)]
    plan = plan_retention(revisions, ServiceView(latest_ready="app-00004"), 1)
    assert actions(plan)["app-00001"] == KEEP
    assert {d.name for d in plan.delete} == {"app-00002", "app-00003"}


def test_input_order_does_not_matter_and_duplicates_are_decided_once():
    revisions = [rev(n) for n in range(1, 6)]
    shuffled = [revisions[2], revisions[0], revisions[4], revisions[0], revisions[1], revisions[3]]
    plan = plan_retention(shuffled, ServiceView(), 2)
    assert [d.name for d in plan.decisions] == [f"app-{n:05d}" for n in range(5, 0, -1)]
    assert [d.name for d in plan.delete] == ["app-00003", "app-00002", "app-00001"]


def test_unknown_creation_time_is_kept():
    odd = Revision("app-odd", None, READY)
    plan = plan_retention([odd, rev(1), rev(2)], ServiceView(), 1)
    assert actions(plan) == {"app-00002": KEEP, "app-00001": DELETE, "app-odd": KEEP}
    assert "creation time unknown" in plan.decisions[-1].reason


def test_a_missing_rollback_target_is_reported():
    plan = plan_retention([rev(1)], ServiceView(), 3, "app-00009")
    assert any("app-00009 is not among" in w for w in plan.warnings)


def test_keep_must_be_positive():
    with pytest.raises(ValueError, match="revisionsToKeep"):
        plan_retention([], ServiceView(), 0)


def test_parse_time_handles_google_timestamps():
    assert parse_time("2025-06-13T16:47:35.642129Z") == dt.datetime(
        2025, 6, 13, 16, 47, 35, 642129, tzinfo=dt.UTC
    )
    assert parse_time("2025-06-13T16:47:35.123456789Z").microsecond == 123456
    assert parse_time("2025-06-13T16:47:35Z").second == 35
    assert parse_time("2025-06-13T18:47:35+02:00") == parse_time("2025-06-13T16:47:35Z")
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_revision_and_service_from_api_json():
    data = {
        "name": f"{PARENT}/revisions/emergence-app-00002-abc",
        "service": PARENT,
        "createTime": "2025-06-13T16:47:35.642129Z",
        "conditions": [
            {"type": "ContainerHealthy", "state": "CONDITION_SUCCEEDED"},
            {"type": "Ready", "state": "CONDITION_FAILED", "message": "port 8080"},
        ],
        "containers": [{"image": "europe-west1-docker.pkg.dev/p/app/emergence-app:deploy-1"}],
        "containerStatuses": [{"name": "c", "imageDigest": "sha256:abc"}],
    }
    r = revision_from_api(data)
    assert (r.name, r.state, r.ready_state, r.digest, r.message, r.service) == (
        "emergence-app-00002-abc",
        FAILED,
        "CONDITION_FAILED",
        "sha256:abc",
        "port 8080",
        "emergence-app",
    )
    assert (
        revision_from_api({"name": "x", "createTime": "2025-01-01T00:00:00Z"}).state == IN_PROGRESS
    )
    view = service_from_api(
        {
            "name": PARENT,
            "latestReadyRevision": f"{PARENT}/revisions/r3",
            "latestCreatedRevision": f"{PARENT}/revisions/r4",
            "traffic": [
                {"type": LATEST, "percent": 90},
                {"type": REVISION, "revision": "r1", "tag": "old"},
            ],
            "trafficStatuses": [
                {"type": LATEST, "percent": 90},  # no revision: the latest ready one
                {"type": REVISION, "revision": "r2", "percent": 10},
            ],
        }
    )
    assert view.percents == {"r3": 90, "r2": 10, "r1": 0}
    assert view.serving == {"r3": 90, "r2": 10}
    assert view.tags == {"r1": ("old",)}
    assert (view.latest_created, view.latest_ready, view.name) == ("r4", "r3", "emergence-app")


# -- properties ---------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios())
def test_nothing_serving_tagged_latest_or_pinned_is_deleted(s: Scenario):
    plan = plan_of(s)
    deleted = {d.name for d in plan.delete}
    assert not deleted & s.expected_protected()


@PROPERTY_SETTINGS
@given(scenarios())
def test_at_most_n_ready_remain_unless_protected_ones_force_more(s: Scenario):
    plan = plan_of(s)
    protected = s.expected_protected()
    ready = s.ready_newest_first()
    kept_ready = {d.name for d in plan.keep if d.name in set(ready)}
    assert kept_ready == set(ready[: s.keep]) | (protected & set(ready))
    assert len(kept_ready) <= s.keep + len(protected & set(ready[s.keep :]))
    assert len(kept_ready) == min(s.keep, len(ready)) + len(protected & set(ready[s.keep :]))


@PROPERTY_SETTINGS
@given(scenarios())
def test_in_progress_and_unreadable_revisions_are_never_deleted(s: Scenario):
    plan = plan_of(s)
    for d in plan.delete:
        assert s.kinds[d.name] in ("ready", "failed")
        assert s.minutes[d.name] is not None
        assert d.name not in s.deleting


@PROPERTY_SETTINGS
@given(scenarios())
def test_failed_revisions_are_deleted_exactly_when_older_than_the_newest_ready(s: Scenario):
    plan = plan_of(s)
    newest_ready = max((s.minutes[n] for n in s.ready_newest_first()), default=None)
    protected = s.expected_protected()
    for d in plan.decisions:
        if s.kinds[d.name] != "failed" or d.name in s.deleting or s.minutes[d.name] is None:
            continue
        should_delete = (
            newest_ready is not None
            and s.minutes[d.name] < newest_ready
            and d.name not in protected
        )
        assert (d.action == DELETE) == should_delete, d


@PROPERTY_SETTINGS
@given(scenarios())
def test_every_revision_is_decided_once_and_none_is_deleted_twice(s: Scenario):
    doubled = (
        s.revisions + s.revisions[: len(s.revisions) // 2]
    )  # a list that shifted between pages
    plan = plan_retention(
        [revision_from_api(r) for r in doubled],
        service_from_api(s.service_json()),
        s.keep,
        s.pinned,
    )
    names = [d.name for d in plan.decisions]
    assert sorted(names) == sorted(set(s.names()))
    assert len(plan.delete) == len({d.name for d in plan.delete})
    assert all(d.reason for d in plan.decisions)


@PROPERTY_SETTINGS
@given(scenarios())
def test_a_second_run_deletes_nothing(s: Scenario):
    first = plan_of(s)
    deleted = {d.name for d in first.delete}
    remaining = [r for r in s.revisions if r["name"].rsplit("/", 1)[-1] not in deleted]
    second = plan_retention(
        [revision_from_api(r) for r in remaining],
        service_from_api(s.service_json()),
        s.keep,
        s.pinned,
    )
    assert second.delete == []
    assert {d.name for d in second.keep} == {d.name for d in first.keep}


@PROPERTY_SETTINGS
@given(scenarios(allow_odd=False), st.randoms(use_true_random=False))
def test_the_listing_order_does_not_change_the_verdict(s: Scenario, rnd: random.Random):
    shuffled = list(s.revisions)
    rnd.shuffle(shuffled)
    view = service_from_api(s.service_json())
    a = plan_retention([revision_from_api(r) for r in s.revisions], view, s.keep, s.pinned)
    b = plan_retention([revision_from_api(r) for r in shuffled], view, s.keep, s.pinned)
    assert actions(a) == actions(b)
