"""The fake Artifact Registry API follows the artifactregistry v1 discovery document, and our
listing (infra/google/artifact_registry.py) follows its pages within a bound."""

from __future__ import annotations

import requests

from infra.google import artifact_registry
from infra.google.client import GoogleApiClient
from tests.discovery_helpers import (
    load_discovery,
    method,
    method_http,
    method_path_regex,
    schema_problems,
)
from tests.fakes.artifact_registry import FakeArtifactRegistry

LIST = "projects.locations.repositories.dockerImages.list"
KEY = ("emergence-469005", "europe-west1", "app")


def test_our_path_and_paging_parameters_are_the_discovery_documents():
    doc = load_discovery("artifactregistry.v1")
    assert method_http(doc, LIST) == "GET"
    path = "/v1/" + artifact_registry.repository_name(*KEY) + "/dockerImages"
    assert method_path_regex(doc, LIST).match(path)
    assert {"pageSize", "pageToken"} <= set(method(doc, LIST)["parameters"])
    assert artifact_registry.PAGE_SIZE <= 1000  # "Maximum page size is 1,000."
    assert doc["rootUrl"] == "https://artifactregistry.googleapis.com/"


def test_answers_are_list_docker_images_responses():
    doc = load_discovery("artifactregistry.v1")
    with FakeArtifactRegistry(*KEY) as fake:
        for n in range(3):
            fake.push("emergence-app", f"deploy-{n}", f"2025-10-0{n + 1}T00:00:00.123456789Z")
        fake.push("emergence-app", None, "2025-10-09T00:00:00Z")
        page = requests.get(
            fake.url + "/v1/" + artifact_registry.repository_name(*KEY) + "/dockerImages",
            params={"pageSize": 2},
            timeout=5,
        ).json()
    assert schema_problems(doc, "ListDockerImagesResponse", page) == []
    assert len(page["dockerImages"]) == 2
    assert page["nextPageToken"]


def test_listing_follows_pages_and_stops_at_its_bound():
    with FakeArtifactRegistry(*KEY) as fake:
        for n in range(7):
            fake.push("emergence-app", f"deploy-{n}", "2025-10-01T00:00:00Z")
        client = GoogleApiClient(fake.url)
        saved = artifact_registry.PAGE_SIZE, artifact_registry.MAX_PAGES
        artifact_registry.PAGE_SIZE, artifact_registry.MAX_PAGES = 2, 10
        try:
            images = artifact_registry.list_docker_images(client, *KEY)
            assert [i["tags"] for i in images] == [[f"deploy-{n}"] for n in range(7)]
            assert len(fake.requests) == 4
            fake.requests.clear()
            artifact_registry.MAX_PAGES = 2  # a repository larger than the bound
            images = artifact_registry.list_docker_images(client, *KEY)
        finally:
            artifact_registry.PAGE_SIZE, artifact_registry.MAX_PAGES = saved
        assert len(images) == 4  # the first pages only, no error
        assert len(fake.requests) == 2
