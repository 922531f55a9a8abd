"""The app's source: found, read as a git checkout, and staged as the build context."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from infra.config import PROJECT_DIR, load_stack_settings
from infra.preflight import source as app_source
from infra.rules.deploy_source import image_tag
from tests.delivery_helpers import clone, commit, git, upstream

SETTINGS = load_stack_settings("reference", supplied_secrets=("smtpPassword",))


def image_for(context, project_dir=PROJECT_DIR, include=(), **args):
    return dataclasses.replace(
        SETTINGS.image,
        context=context,
        context_setting=str(context),
        include=tuple(include),
        build_args=tuple(sorted(args.items())),
    )


@pytest.fixture
def app(tmp_path):
    """An app checkout shaped like emergence-app, with what must not ship beside what must."""
    root = tmp_path / "app"
    files = {
        "src/backend/main.py": "app = None\n",
        "src/backend/tests/test_main.py": "def test(): pass\n",
        "src/backend/data/db/emergence_v7.db": "a developer's local database\n",
        "index.html": "<html></html>\n",
        "env.yaml": "GOOGLE_ALLOWED_EMAILS: owner@example.com\n",
        "docs/passation.md": "notes\n",
        "requirements.txt": "fastapi\n",
        ".hf-cache/models--a--b/refs/main": "0" * 40,
        ".hf-cache/models--a--b/snapshots/" + "0" * 40 + "/config.json": "{}\n",
        ".env": "OPENAI_API_KEY=sk-not-real\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "src" / "link-out").symlink_to("/etc/hostname")
    return root


def staged_files(staged):
    return sorted(
        str(p.relative_to(staged.context)) for p in staged.context.rglob("*") if p.is_file()
    )


def test_the_build_context_holds_the_allow_list_and_the_build_inputs_only(app, tmp_path):
    image = image_for(
        app,
        include=("src/", "!src/backend/tests/", "index.html"),
        APP_WRITABLE_PATHS="src/backend/data logs",
        HF_CACHE_DIR=".hf-cache",
    )
    staged = app_source.stage(image, tmp_path)
    assert staged.context.parent == tmp_path / ".build"
    assert staged.shipped == ("index.html", "src/backend/main.py")
    files = staged_files(staged)
    assert [f for f in files if f.startswith("app/")] == [
        "app/index.html",
        "app/src/backend/main.py",
    ]
    assert "requirements.txt" in files
    assert "hf-cache/models--a--b/refs/main" in files
    assert "image/serve.py" in files and "image/model.py" in files  # the Dockerfile's helpers
    for never in ("env.yaml", ".env", "emergence_v7.db", "passation.md", "link-out", "test_main"):
        assert not any(never in f for f in files), never
    # the stage is ignored by git: it never makes this checkout dirty
    assert (tmp_path / ".build" / ".gitignore").read_text() == "*\n"


def test_the_same_source_gives_the_same_context_and_a_change_a_new_one(app, tmp_path):
    image = image_for(app, include=("src/",))
    first = app_source.stage(image, tmp_path)
    again = app_source.stage(image, tmp_path)
    assert again.context == first.context
    (app / "src" / "backend" / "main.py").write_text("app = 'changed'\n")
    changed = app_source.stage(image, tmp_path)
    assert changed.context != first.context
    assert (changed.context / "app/src/backend/main.py").read_text() == "app = 'changed'\n"
    (app / "docs" / "passation.md").write_text("a change outside the allow-list\n")
    assert app_source.stage(image, tmp_path).context == changed.context


def test_the_read_only_mode_computes_the_path_and_writes_nothing(app, tmp_path):
    image = image_for(app, include=("src/",))
    with app_source.read_only():
        staged = app_source.stage(image, tmp_path)
    assert not staged.context.exists() and not (tmp_path / ".build").exists()
    assert app_source.stage(image, tmp_path).context == staged.context


def test_a_missing_hf_cache_dir_is_one_line_naming_the_build_arg(app, tmp_path):
    image = image_for(app, include=("src/",), HF_CACHE_DIR="no-such-cache")
    with pytest.raises(app_source.SourceError) as err:
        app_source.stage(image, tmp_path)
    assert "buildArgs HF_CACHE_DIR=no-such-cache: no such directory" in str(err.value)
    assert "Fix:" in str(err.value) and "\n" not in str(err.value)


def test_a_source_without_an_allow_list_is_refused(app, tmp_path):
    with pytest.raises(app_source.SourceError, match="has no allow-list"):
        app_source.stage(image_for(app), tmp_path)


def test_old_staged_contexts_are_pruned_but_not_ones_staged_minutes_ago(app, tmp_path):
    image = image_for(app, include=("src/",))
    for n in range(6):
        (app / "src" / "backend" / "main.py").write_text(f"app = {n}\n")
        app_source.stage(image, tmp_path)
    staged = list((tmp_path / ".build").glob("context-*"))
    assert len(staged) == 6, "a context staged minutes ago may be another run's build context"
    an_hour_ago = time.time() - 3600
    for old in staged:
        os.utime(old, (an_hour_ago, an_hour_ago))
    (app / "src" / "backend" / "main.py").write_text("app = 6\n")
    app_source.stage(image, tmp_path)
    assert len(list((tmp_path / ".build").glob("context-*"))) == 4


# --------------------------------------------------------------------------- the checkout


def test_a_context_inside_this_repository_is_not_an_own_checkout():
    found = app_source.read_source(SETTINGS.image, PROJECT_DIR)
    assert found.exists and not found.own_checkout and found.git is None
    assert image_tag(None, found) == "deploy-untracked"


def test_the_apps_own_checkout_is_read_and_names_the_image(tmp_path):
    work = clone(upstream(tmp_path), tmp_path / "emergencev8")
    found = app_source.read_source(image_for(work), tmp_path / "project")
    assert found.exists and found.own_checkout
    assert found.git.sha == git(work, "rev-parse", "HEAD")
    assert not found.git.dirty and found.git.on_default_branch
    assert found.git.default_branch_ref == "origin/main"
    sha = found.git.sha[:7]
    assert image_tag(None, found) == f"deploy-20251006-060538-{sha}-infra-untracked"


def test_uncommitted_and_unpushed_app_changes_are_seen(tmp_path):
    work = clone(upstream(tmp_path), tmp_path / "emergencev8")
    (work / "app.txt").write_text("edited\n")
    found = app_source.read_source(image_for(work), tmp_path / "project")
    assert found.git.dirty and found.git.changed_paths == ("app.txt",)
    assert "-dirty-" in image_tag(None, found)
    git(work, "checkout", "-q", "app.txt")
    commit(work, "new.txt", "x\n", "not pushed")
    found = app_source.read_source(image_for(work), tmp_path / "project")
    assert not found.git.dirty and not found.git.on_default_branch


def test_a_plain_directory_outside_the_repository_is_an_untracked_source(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    found = app_source.read_source(image_for(plain), tmp_path / "project")
    assert found.exists and found.own_checkout and found.git is None and found.failure
    missing = app_source.read_source(image_for(tmp_path / "nope"), tmp_path / "project")
    assert not missing.exists
    assert image_tag(None, missing) == "deploy-app-missing-infra-untracked"


def test_the_assumption_stands_in_for_the_checkout(tmp_path):
    from infra.mockrun import MOCK_APP_GIT

    with app_source.assumed(MOCK_APP_GIT):
        found = app_source.read_source(image_for(tmp_path / "nope"), tmp_path / "project")
        staged = app_source.stage(image_for(tmp_path / "nope"), tmp_path)
    assert found.exists and found.git == MOCK_APP_GIT
    assert not staged.context.exists()
    assert os.listdir(tmp_path) == []
