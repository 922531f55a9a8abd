"""bench/_buildx.link_source: the Dockerfile variant `cold_deploy.py --link-source` measures."""

import pytest

from bench._buildx import link_source
from infra.config import PROJECT_DIR

DOCKERFILE = (PROJECT_DIR / "app_image" / "Dockerfile").read_text()


def test_links_the_last_two_copies_and_moves_workdir_before_the_dependencies():
    text = link_source(DOCKERFILE)
    lines = text.splitlines()
    assert "COPY --link image/serve.py /opt/image/serve.py" in lines
    assert "COPY --link app/ /app/" in lines
    assert lines.count("WORKDIR /app") == 1
    # WORKDIR needs the files below it: it now comes before torch and the requirements
    assert text.index("WORKDIR /app") < text.index("ARG TORCH_VERSION")
    # nothing else changed: the same lines, in the same order, but for those three
    changed = {"WORKDIR /app", "COPY --link image/serve.py /opt/image/serve.py",
               "COPY --link app/ /app/"}  # fmt: skip
    original = [line for line in DOCKERFILE.splitlines() if line != "WORKDIR /app"]
    ours = [line.replace("COPY --link ", "COPY ") for line in lines if line != "WORKDIR /app"]
    assert ours == original
    assert changed <= set(lines)


def test_refuses_a_dockerfile_whose_steps_moved():
    with pytest.raises(AssertionError):
        link_source(DOCKERFILE.replace("COPY app/ /app/", "COPY src/ /app/"))
    with pytest.raises(AssertionError):
        link_source(DOCKERFILE.replace("\nWORKDIR /app\n", "\nWORKDIR /srv\n"))
