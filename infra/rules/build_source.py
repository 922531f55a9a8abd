"""What of the app's source goes into the image, and which build arguments the Dockerfile takes.

Pure decisions (no I/O): the caller lists the files and reads the Dockerfile.

**The allow-list.** The real emergence-app serves its whole app directory at `/`, so every file
in the image is public: the image must hold only what the app needs. The allow-list says which
files of the build context those are, in `.dockerignore` syntax (last matching line wins, `!`
re-includes, `*` and `?` within a path segment, `**` across segments, a directory matches
everything below it). It comes from the stack (`buildInclude`: paths to include, `!path` to
leave out) or from the app side (the context's own `.dockerignore`, if it is written as an
allow-list, i.e. starts with `*`). A context with neither is refused rather than shipped whole.
`ALWAYS_EXCLUDED` is appended after either: version control, environment files, local
databases, caches and virtualenvs never ship, whatever the list says.

**Build arguments.** The stack's `buildArgs` must name ARGs the Dockerfile declares: a misspelt
one would otherwise be ignored by Docker without a word, and the image built without it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

# Never shipped, whatever the allow-list says (matched anywhere in the tree).
ALWAYS_EXCLUDED: tuple[str, ...] = (
    "**/.git",
    "**/.hg",
    "**/.svn",
    "**/.env",
    "**/.env.*",
    "**/*.env",
    "**/.venv",
    "**/__pycache__",
    "**/*.py[cod]",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/node_modules",
    "**/*.db",
    "**/*.db-shm",
    "**/*.db-wal",
    "**/*.db-journal",
    "**/*.sqlite",
    "**/*.sqlite3",
    "**/*.pem",
    "**/*.key",
    "**/.DS_Store",
)

# Build inputs the build spec stages beside the app files (never shipped under /app).
REQUIREMENTS = "requirements.txt"


class AllowListError(ValueError):
    """No usable allow-list: the message names the setting and the fix."""


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    exclusion: bool  # a `!` line: matching files are kept (re-included)


@dataclass(frozen=True)
class AllowList:
    lines: tuple[str, ...]  # .dockerignore syntax, ALWAYS_EXCLUDED appended
    source: str  # where it came from, for messages: "buildInclude" or "<context>/.dockerignore"

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        return compile_patterns(self.lines)

    def ships(self, path: str) -> bool:
        """Whether the file at `path` (relative, `/`-separated) is in the image."""
        return not ignored(path, self.patterns)


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]  # Go's syntax: `^` negates, `!` is a character
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"


def _clean(pattern: str) -> str:
    parts = [p for p in pattern.strip().split("/") if p not in ("", ".")]
    return "/".join(parts)


@lru_cache(maxsize=64)
def compile_patterns(lines: tuple[str, ...]) -> tuple[Pattern, ...]:
    """`.dockerignore` lines as patterns (comments and blank lines dropped)."""
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        text = _clean(line[1:] if exclusion else line)
        if not text:
            continue
        patterns.append(Pattern(text, re.compile(_translate(text)), exclusion))
    return tuple(patterns)


def ignored(path: str, patterns: Iterable[Pattern]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories,
    decides; a `!` pattern keeps the file."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        if any(pattern.regex.match(prefix) for prefix in prefixes):
            result = not pattern.exclusion
    return result


def is_allow_list(dockerignore: str) -> bool:
    """A `.dockerignore` written as an allow-list: its first pattern excludes everything."""
    patterns = compile_patterns(tuple(dockerignore.splitlines()))
    return bool(patterns) and patterns[0].text in ("*", "**") and not patterns[0].exclusion


def allow_list(
    build_include: tuple[str, ...], dockerignore: str | None, *, context_label: str
) -> AllowList:
    """The allow-list from the stack's `buildInclude`, else from the context's `.dockerignore`."""
    if build_include:
        lines = ["*"]
        for raw in build_include:
            entry = raw.strip()
            lines.append(entry[1:] if entry.startswith("!") else "!" + entry)
        return AllowList((*lines, *ALWAYS_EXCLUDED), "emergence-cloudrun:buildInclude")
    if dockerignore is not None and is_allow_list(dockerignore):
        return AllowList(
            (*dockerignore.splitlines(), *ALWAYS_EXCLUDED), f"{context_label}/.dockerignore"
        )
    why = (
        "its .dockerignore is a deny-list (it does not start with `*`)"
        if dockerignore is not None
        else "it has no .dockerignore"
    )
    raise AllowListError(
        f"emergence-cloudrun:buildContext {context_label} has no allow-list ({why}), and the "
        "image ships only allow-listed files. Fix: pulumi config set --path "
        "'emergence-cloudrun:buildInclude[0]' src/ (one entry per path the app needs at run "
        "time), or give the app a .dockerignore that starts with `*` and re-includes them"
    )


def under(path: str, directory: str) -> bool:
    directory = _clean(directory)
    return bool(directory) and (path == directory or path.startswith(directory + "/"))


def select(
    paths: Iterable[str],
    allowed: AllowList,
    *,
    build_only: Iterable[str] = (),
    writable: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """(shipped, left out) among `paths`: the allow-list's files, minus the build inputs
    (`build_only`: staged apart) and what lies under the app's writable paths (created empty in
    the image: a local database or upload found there must not ship)."""
    patterns = allowed.patterns
    skip = [_clean(p) for p in (*build_only, *writable) if _clean(p)]
    shipped, left = [], []
    for path in sorted(paths):
        if any(under(path, s) for s in skip) or ignored(path, patterns):
            left.append(path)
        else:
            shipped.append(path)
    return shipped, left


# --------------------------------------------------------------------------- build arguments

_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?\s*$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_USERINFO = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def dockerfile_args(text: str) -> dict[str, str | None]:
    """The ARGs a Dockerfile declares, with their defaults (None: no default)."""
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        match = _ARG.match(line)
        if match:
            default = match.group(2)
            if default is not None:
                default = default.strip().strip('"').strip("'")
            found.setdefault(match.group(1), default)
    return found


def build_arg_problems(args: Mapping[str, str], declared: Iterable[str]) -> list[str]:
    """Why each build argument is refused (empty: all accepted), one sentence each."""
    known = sorted(set(declared))
    problems = []
    for name, value in args.items():
        if not _NAME.match(name):
            problems.append(f"{name!r} is not a build argument name")
        elif name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{name} is not an ARG of the Dockerfile{hint}; it takes {', '.join(known)}"
            )
        elif "\n" in value or "\r" in value:
            problems.append(f"{name}: the value spans lines")
        elif _USERINFO.search(value):
            problems.append(
                f"{name}: the URL carries a user name and password; build arguments are "
                "recorded in the image's history, so no credential may be one"
            )
    return problems
