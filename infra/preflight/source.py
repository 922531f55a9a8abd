"""The app's source: where it is, which commit it is, and the build context made from it.

I/O only; what it means is decided in infra/rules/ (`build_source`: the allow-list;
`deploy_source`: the image tag and the clean-tree gate).

`read_source` finds the build context (`buildContext`): inside this repository (the reference
app in app_image/: this repository's commit names the image) or the app's own checkout beside
it (e.g. `../emergencev8`: its commit names the image, and the gate checks that checkout too).

`stage` writes the build context Docker actually gets, under `<project>/.build/`: only the
allow-listed files of the source under `app/`, its `requirements.txt`, the Hugging Face cache
named by the build argument HF_CACHE_DIR under `hf-cache/`, and the Dockerfile's own `image/`
helpers. Nothing else of the checkout (its .git, local databases, logs, notes) reaches the
builder, the build cache or pulumi-docker's context hash. The directory's name is the hash of
its content, so the same source gives the same context path (no diff in `pulumi preview`) and
a changed one a new path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.config import PROJECT_DIR, ImageSettings
from infra.preflight.git import GitError, inspect_repo
from infra.rules.build_source import (
    REQUIREMENTS,
    AllowList,
    AllowListError,
    allow_list,
    select,
)
from infra.rules.deploy_source import AppSource, GitInfo

STAGE_DIR = ".build"
_KEEP_STAGED = 4  # older staged contexts are removed
_STAGED_IN_USE_S = 15 * 60  # unless staged (or reused) this recently: another run may use it


class SourceError(Exception):
    """The source cannot be staged; the message is one line naming the setting and the fix."""


@dataclass(frozen=True)
class Staged:
    context: Path  # the directory to build
    shipped: tuple[str, ...]  # files of the source under app/
    left_out: int  # files of the source the allow-list keeps out
    size: int  # bytes under app/
    allow: AllowList | None = None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _project_root(project_dir: Path) -> Path:
    """This repository's work tree top (the project dir itself when it is not in git)."""
    top = project_dir
    for candidate in (project_dir, *project_dir.parents):
        if (candidate / ".git").exists():
            top = candidate
            break
    return top


class _Assumption:
    active = False
    git: GitInfo | None = None
    exists = True
    failure = ""
    write = True  # False under the mock engine: `plan` computes the context, writes nothing


# The mock engine stands in the app checkout's state (as it does this repository's, see
# infra/preflight/git.py), so evaluations do not depend on what is checked out beside the repo.
_ASSUMED = _Assumption()


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within the block, `stage` computes the context's path and writes nothing."""
    saved = _ASSUMED.write
    _ASSUMED.write = False
    try:
        yield
    finally:
        _ASSUMED.write = saved


@contextlib.contextmanager
def assumed(git: GitInfo | None, *, exists: bool = True, failure: str = "") -> Iterator[None]:
    saved = (_ASSUMED.active, _ASSUMED.git, _ASSUMED.exists, _ASSUMED.failure)
    _ASSUMED.active, _ASSUMED.git, _ASSUMED.exists = True, git, exists
    _ASSUMED.failure = failure or ("" if git else "not a git repository")
    try:
        yield
    finally:
        _ASSUMED.active, _ASSUMED.git, _ASSUMED.exists, _ASSUMED.failure = saved


def read_source(image: ImageSettings, project_dir: Path = PROJECT_DIR) -> AppSource:
    context = image.context
    own = not _inside(context, _project_root(project_dir.resolve()))
    base = {
        "context": str(context),
        "setting": image.context_setting,
        "own_checkout": own,
        "default_branch": image.app_default_branch,
    }
    if _ASSUMED.active:
        git = _ASSUMED.git if own else None
        return AppSource(exists=_ASSUMED.exists, git=git, failure=_ASSUMED.failure, **base)
    if not context.is_dir():
        return AppSource(exists=False, **base)
    if not own:
        return AppSource(exists=True, **base)
    try:
        git = inspect_repo(context, image.app_default_branch)
    except (GitError, ValueError) as exc:
        return AppSource(exists=True, git=None, failure=str(exc), **base)
    return AppSource(exists=True, git=git, **base)


def _files(root: Path) -> Iterator[str]:
    """Regular files under `root`, relative and `/`-separated; no symlinks, no VCS dirs."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".hg", ".svn"))
        base = Path(folder)
        for name in sorted(files):
            path = base / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix()


def plan_context(image: ImageSettings, source_dir: Path) -> tuple[AllowList, list[str], int]:
    """(the allow-list, the files shipped, how many left out), or SourceError."""
    ignore = source_dir / ".dockerignore"
    text = ignore.read_text(encoding="utf-8", errors="replace") if ignore.is_file() else None
    try:
        allowed = allow_list(image.include, text, context_label=image.context_setting)
    except AllowListError as exc:
        raise SourceError(str(exc)) from None
    build_only = [REQUIREMENTS, *([image.hf_cache_dir] if image.hf_cache_dir else [])]
    shipped, left = select(
        _files(source_dir), allowed, build_only=build_only, writable=image.writable_paths
    )
    return allowed, shipped, len(left)


def _inputs(image: ImageSettings, source_dir: Path, shipped: list[str]) -> list[tuple[str, Path]]:
    """(path in the staged context, source file) for everything the build gets."""
    items = [(f"app/{rel}", source_dir / rel) for rel in shipped]
    requirements = source_dir / REQUIREMENTS
    if requirements.is_file():
        items.append((REQUIREMENTS, requirements))
    if image.hf_cache_dir:
        cache = source_dir / image.hf_cache_dir
        if not cache.is_dir():
            raise SourceError(
                f"emergence-cloudrun:buildArgs HF_CACHE_DIR={image.hf_cache_dir}: no such "
                f"directory in {image.context_setting}. Fix: put a Hugging Face cache there "
                "(models--<org>--<name>/snapshots/<rev>/ and refs/main), or unset HF_CACHE_DIR "
                "to download HF_MODEL from the hub at build time"
            )
        for folder, _dirs, files in os.walk(cache, followlinks=False):
            for name in files:
                path = Path(folder) / name
                rel = path.relative_to(cache).as_posix()
                items.append((f"hf-cache/{rel}", path))
    helpers = image.dockerfile.parent / "image"
    if helpers.is_dir():
        items += [(f"image/{p.name}", p) for p in sorted(helpers.iterdir()) if p.is_file()]
    return sorted(items)


def _digest(items: list[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for rel, path in items:
        h.update(rel.encode() + b"\0")
        h.update(b"x" if os.access(path, os.X_OK) else b"-")
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()[:16]


def stage(image: ImageSettings, project_dir: Path = PROJECT_DIR, *, write: bool = True) -> Staged:
    """The build context for `image`, written under `<project_dir>/.build/` (unless `write` is
    false: then only its path is computed). SourceError when it cannot be made."""
    root = project_dir / STAGE_DIR
    if _ASSUMED.active:
        return Staged(root / "context-assumed", (), 0, 0)
    source_dir = image.context
    allowed, shipped, left = plan_context(image, source_dir)
    items = _inputs(image, source_dir, shipped)
    target = root / f"context-{_digest(items)}"
    size = sum((source_dir / rel).stat().st_size for rel in shipped)
    staged = Staged(target, tuple(shipped), left, size, allowed)
    write = write and _ASSUMED.write
    if not write or target.is_dir():
        if write:
            os.utime(target)
        return staged
    root.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text("*\n", encoding="utf-8")  # never committed, never dirty
    work = Path(tempfile.mkdtemp(prefix="staging-", dir=root))
    try:
        for rel, path in items:
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        for folder in ("app", "hf-cache", "image"):
            (work / folder).mkdir(exist_ok=True)
        if not (work / REQUIREMENTS).exists():
            (work / REQUIREMENTS).write_text("", encoding="utf-8")
        try:
            work.rename(target)
        except OSError:  # made meanwhile by another run: same content
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(root, keep=target)
    return staged


def _prune(root: Path, keep: Path) -> None:
    staged = sorted(
        (p for p in root.glob("context-*") if p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    recent = time.time() - _STAGED_IN_USE_S
    for old in staged[_KEEP_STAGED - 1 :]:
        if old.stat().st_mtime < recent:  # a run that staged it moments ago may build from it
            shutil.rmtree(old, ignore_errors=True)
