"""Which image a fresh builder takes its layer cache from (infra/rules/build_cache.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from infra.rules.build_cache import RegistryImage, image_from_api, parse_time, previous_image

REPO = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"


def image(tags, uploaded, repository=REPO, digest=None):
    return RegistryImage(
        repository,
        digest or f"sha256:{abs(hash((tuple(tags), uploaded))):064x}",
        tuple(tags),
        parse_time(uploaded),
    )


def test_the_newest_other_image_by_upload_time():
    images = [
        image(["deploy-a"], "2025-10-06T05:00:00Z"),
        image(["deploy-c"], "2025-10-08T05:00:00.5Z"),
        image(["deploy-b"], "2025-10-08T05:00:00.123456789Z"),
    ]
    assert previous_image(images, REPO, "deploy-new") == f"{REPO}:deploy-c"


def test_the_image_being_built_is_never_its_own_cache_so_a_redeploy_has_no_diff():
    older = image(["deploy-p"], "2025-10-06T05:00:00Z")
    current = image(["deploy-t"], "2025-10-07T05:00:00Z")
    first_deploy = previous_image([older], REPO, "deploy-t")
    same_commit_again = previous_image([older, current], REPO, "deploy-t")
    assert first_deploy == same_commit_again == f"{REPO}:deploy-p"


def test_untagged_images_and_other_repositories_are_left_out():
    images = [
        image([], "2025-10-09T00:00:00Z"),
        image(["deploy-x"], "2025-10-09T00:00:00Z", repository=REPO + "-other"),
        image(["deploy-y"], "2025-10-01T00:00:00Z"),
    ]
    assert previous_image(images, REPO, "deploy-z") == f"{REPO}:deploy-y"
    assert previous_image(images[:2], REPO, "deploy-z") is None
    assert previous_image([], REPO, "deploy-z") is None


def test_a_deploy_tag_is_preferred_among_an_images_tags():
    images = [image(["latest", "deploy-1", "v2"], "2025-10-09T00:00:00Z")]
    assert previous_image(images, REPO, "deploy-2") == f"{REPO}:deploy-1"
    assert previous_image([image(["v2", "a"], "2025-10-09T00:00:00Z")], REPO, "x") == f"{REPO}:v2"


def test_api_items_are_read_defensively():
    item = {"uri": f"{REPO}@sha256:{'a' * 64}", "tags": ["deploy-1", 3, ""], "uploadTime": "x"}
    parsed = image_from_api(item)
    assert parsed is not None
    assert (parsed.repository, parsed.tags) == (REPO, ("deploy-1",))
    assert parsed.uploaded == datetime(1970, 1, 1, tzinfo=UTC)  # unreadable time: oldest
    assert image_from_api({"uri": REPO + ":deploy-1"}) is None
    assert image_from_api({"tags": ["x"]}) is None


def test_times_with_nanoseconds_and_offsets():
    assert parse_time("2025-10-06T05:41:07.123456789Z") == datetime(
        2025, 10, 6, 5, 41, 7, 123456, tzinfo=UTC
    )
    assert parse_time("2025-10-06T07:41:07+02:00") == datetime(2025, 10, 6, 5, 41, 7, tzinfo=UTC)
    assert (
        parse_time(None) == parse_time("2025-13-45T00:00:00Z") == datetime(1970, 1, 1, tzinfo=UTC)
    )


@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(["deploy-1", "deploy-2", "deploy-3", "x"]), max_size=3),
            st.integers(min_value=0, max_value=10**9),
        ),
        max_size=8,
    ),
    st.sampled_from(["deploy-1", "deploy-2", "deploy-3"]),
)
def test_the_choice_is_never_the_current_tag_and_always_an_image_that_exists(items, current):
    images = [
        RegistryImage(REPO, f"sha256:{n:064x}", tuple(tags), datetime.fromtimestamp(t, UTC))
        for n, (tags, t) in enumerate(items)
    ]
    chosen = previous_image(images, REPO, current)
    eligible = [i for i in images if i.tags and current not in i.tags]
    if not eligible:
        assert chosen is None
    else:
        assert chosen is not None
        tag = chosen.rsplit(":", 1)[1]
        assert tag != current
        newest = max(i.uploaded for i in eligible)
        assert any(tag in i.tags and i.uploaded == newest for i in eligible)
