"""The allow-list (what of the app's source ships) and the build-argument check: pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.rules.build_source import (
    ALWAYS_EXCLUDED,
    AllowListError,
    allow_list,
    build_arg_problems,
    compile_patterns,
    dockerfile_args,
    ignored,
    is_allow_list,
    select,
)


def shipped(paths, lines):
    patterns = compile_patterns(tuple(lines))
    return [p for p in paths if not ignored(p, patterns)]


@pytest.mark.parametrize(
    ("lines", "path", "is_ignored"),
    [
        (["*"], "a.txt", True),
        (["*", "!src/"], "src/backend/main.py", False),  # a directory brings what is below
        (["*", "!src"], "src/x/y.py", False),
        (["*", "!src/", "src/backend/tests"], "src/backend/tests/t.py", True),
        (["*", "!src/", "src/backend/tests", "!src/backend/tests/keep.py"],
         "src/backend/tests/keep.py", False),  # the last match wins
        (["*.db"], "data.db", True),
        (["*.db"], "src/backend/data/x.db", False),  # Docker: `*` does not cross `/`
        (["**/*.db"], "src/backend/data/x.db", True),
        (["**/*.db"], "x.db", True),
        (["src/**/__tests__"], "src/frontend/a/__tests__/t.js", True),
        (["src/**/__tests__"], "src/__tests__/t.js", True),
        (["doc?.md"], "docs.md", True),
        (["doc?.md"], "doc/.md", False),
        (["[ab].txt"], "b.txt", True),
        (["[^ab].txt"], "c.txt", True),
        (["[!ab].txt"], "a.txt", True),  # Docker (Go) negates with `^` only
        (["[!ab].txt"], "c.txt", False),
        (["/index.html"], "index.html", True),  # a leading slash is the root
        (["./assets/"], "assets/x.png", True),
        (["# a comment", ""], "a", False),
    ],
)  # fmt: skip
def test_dockerignore_semantics(lines, path, is_ignored):
    assert ignored(path, compile_patterns(tuple(lines))) is is_ignored


def test_the_stacks_list_includes_only_what_it_names_and_never_the_always_excluded():
    allowed = allow_list(("src/", "index.html", "!src/backend/tests/"), None, context_label="x")
    paths = [
        "src/backend/main.py",
        "src/backend/tests/test_main.py",
        "src/backend/data/db/emergence_v7.db",  # a developer's local database, nested
        "src/.env",
        "src/backend/__pycache__/main.cpython-311.pyc",
        "src/.git/config",
        "index.html",
        "env.yaml",
        "downloaded-logs-20251010-041801.json",
        "docs/passation.md",
        "Dockerfile",
    ]
    assert [p for p in paths if allowed.ships(p)] == ["src/backend/main.py", "index.html"]
    assert allowed.source == "emergence-cloudrun:buildInclude"
    assert allowed.lines[-len(ALWAYS_EXCLUDED) :] == ALWAYS_EXCLUDED


def test_the_app_side_list_is_its_dockerignore_when_it_is_an_allow_list():
    text = "*\n!requirements*.txt\n!app/\n**/tests\n"
    allowed = allow_list((), text, context_label="app_image")
    assert allowed.source == "app_image/.dockerignore"
    assert allowed.ships("app/main.py") and not allowed.ships("app/tests/t.py")
    assert not allowed.ships("README.md")


def test_the_stacks_list_wins_over_the_apps_dockerignore():
    allowed = allow_list(("index.html",), "*\n!src/\n", context_label="x")
    assert allowed.ships("index.html") and not allowed.ships("src/main.py")


@pytest.mark.parametrize(
    ("dockerignore", "why"),
    [
        (None, "it has no .dockerignore"),
        (".venv/\n*.db\nlogs/\n", "deny-list"),  # emergence-app's own .dockerignore
        ("!src/\n*\n", "deny-list"),
    ],
)
def test_a_context_without_an_allow_list_is_refused_naming_the_setting(dockerignore, why):
    with pytest.raises(AllowListError) as err:
        allow_list((), dockerignore, context_label="../emergencev8")
    message = str(err.value)
    assert "emergence-cloudrun:buildContext ../emergencev8 has no allow-list" in message
    assert why in message
    assert "Fix: pulumi config set --path 'emergence-cloudrun:buildInclude[0]'" in message
    assert "\n" not in message


def test_is_allow_list():
    assert is_allow_list("# allow-list\n*\n!app/\n")
    assert is_allow_list("**\n")
    assert not is_allow_list("")
    assert not is_allow_list("node_modules\n*\n")


def test_select_keeps_build_inputs_and_writable_paths_out_of_the_app():
    allowed = allow_list(("src/", "requirements.txt", ".hf-cache/"), None, context_label="x")
    paths = [
        "src/backend/main.py",
        "src/backend/data/uploads/cv.pdf",  # what a developer uploaded: never ships
        "src/backend/datasets/ok.json",  # a sibling with a common prefix still ships
        "requirements.txt",
        ".hf-cache/models--a--b/refs/main",
        "logs/app.log",
    ]
    shipped_, left = select(
        paths,
        allowed,
        build_only=["requirements.txt", ".hf-cache"],
        writable=["logs", "src/backend/data"],
    )
    assert shipped_ == ["src/backend/datasets/ok.json", "src/backend/main.py"]
    assert sorted(left) == sorted(set(paths) - set(shipped_))


@given(st.lists(st.from_regex(r"[a-z]{1,3}(/[a-z.]{1,4}){0,3}", fullmatch=True), max_size=30))
def test_select_partitions_the_paths(paths):
    allowed = allow_list(("a/", "b.x"), None, context_label="x")
    shipped_, left = select(paths, allowed)
    assert sorted(shipped_ + left) == sorted(paths)
    assert all(allowed.ships(p) for p in shipped_)
    assert not any(allowed.ships(p) for p in left)


DOCKERFILE = """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS builder
ARG TORCH_VERSION=""
  arg torch_index_url=https://download.pytorch.org/whl/cpu
ARG HF_MODEL
RUN echo "ARG NOT_ONE=x"
"""


def test_dockerfile_args_are_read_with_their_defaults():
    assert dockerfile_args(DOCKERFILE) == {
        "BASE_IMAGE": "python:3.11-slim",
        "TORCH_VERSION": "",
        "torch_index_url": "https://download.pytorch.org/whl/cpu",
        "HF_MODEL": None,
    }


def test_a_misspelt_build_arg_is_refused_by_name_with_the_likely_one():
    declared = dockerfile_args(DOCKERFILE)
    problems = build_arg_problems({"TORCH_VERSON": "2.13.0", "HF_MODEL": "a/b"}, declared)
    assert len(problems) == 1
    assert problems[0].startswith("TORCH_VERSON is not an ARG of the Dockerfile")
    assert "(did you mean TORCH_VERSION?)" in problems[0]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"BASE_IMAGE": "a\nb"}, "spans lines"),
        ({"HF_MODEL": "https://user:token@hub.example/x"}, "user name and password"),
        ({"1BAD": "x"}, "not a build argument name"),
    ],
)
def test_bad_build_arg_values_are_refused(args, problem):
    (found,) = build_arg_problems(args, dockerfile_args(DOCKERFILE))
    assert problem in found
    assert "token" not in found  # the credential is not repeated


def test_the_project_dockerfile_declares_every_arg_the_prod_stack_sets():
    from infra.config import load_stack_settings

    settings = load_stack_settings("prod", supplied_secrets=("smtpPassword",))
    declared = dockerfile_args(settings.image.dockerfile.read_text())
    assert settings.image.args, "prod sets build arguments"
    assert build_arg_problems(settings.image.args, declared) == []
