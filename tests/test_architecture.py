"""The dependency rules of ../shared/DESIGN.md, per folder of infra/, checked on the source.

Every module of infra/ belongs to one role (a folder, or one of the few top-level modules), and
`MAY_IMPORT` says which roles each may import directly. On top of that, some rules must hold
through any chain of imports (`NEVER_REACH`): resources never depend on a command line, a
decision never reaches I/O, settings never reach a component. The program (`__main__.py`) is
wiring only; the policy pack and the image import nothing from infra/.

Imports are read with ast, anywhere in a file: a lazy import inside a function is still a
dependency. `violations(root)` judges any tree, so the last tests plant a violation in a copy of
this one and show that it is caught.
"""

from __future__ import annotations

import ast
import functools
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# role -> the packages and modules that make it up (each with everything below it)
ROLES: dict[str, tuple[str, ...]] = {
    "package": ("infra",),  # infra/__init__.py: the map, no code
    "settings": ("infra.config",),
    "components": ("infra.components",),
    "providers": ("infra.providers",),
    "rules": ("infra.rules",),
    "google": ("infra.google",),
    "probes": ("infra.probes",),
    "preflight": ("infra.preflight",),  # the package's __init__ is preflight() itself
    "local": ("infra.local",),
    "cli": ("infra.cli", "infra.__main__"),
    "mockrun": ("infra.mockrun",),
    # The providers' import paths before the layout change: pickled states name them.
    "legacy": ("infra.deployment_check", "infra.retention"),
}
# The build spec is shared by the image component and the local run (DESIGN: "the build spec
# shared with pulumi up"): components may import it, never the Docker runner beside it.
BUILD_SPEC = "infra.local.build_spec"

MAY_IMPORT: dict[str, set[str]] = {
    "package": set(),
    "rules": {"rules"},
    "settings": {"rules"},
    "google": {"google", "rules"},
    "probes": {"probes", "google", "rules"},
    "providers": {"providers", "probes", "google", "rules"},
    "preflight": {"preflight", "settings", "google", "rules"},
    "components": {
        "components", "providers", "probes", "settings", "google", "rules", BUILD_SPEC,
    },
    "local": {"local", "probes", "settings", "rules"},
    "mockrun": {"preflight", "providers", "settings", "rules"},
    "cli": {
        "cli", "mockrun", "local", "preflight", "probes", "google", "settings", "rules",
        "package",
    },
    "legacy": {"providers"},
}  # fmt: skip

# Rules that hold through any chain of imports: (role, roles it must never reach, why).
NEVER_REACH: tuple[tuple[str, set[str], str], ...] = (
    ("components", {"cli"}, "resources never depend on a command line"),
    ("providers", {"cli", "components", "settings"}, "the engine runs providers on inputs alone"),
    ("rules", set(ROLES) - {"rules"}, "decisions take data and return a verdict"),
    ("settings", {"components", "providers", "cli", "google", "probes", "local"}, "settings"),
)

# Standard and third-party modules that reach the network, processes, files or the terminal.
IO_MODULES = {
    "requests", "urllib3", "socket", "http", "subprocess", "shutil", "os", "pathlib", "io",
    "google", "googleapiclient", "docker", "sys", "yaml", "msgspec", "threading", "time",
    "pulumi", "pulumi_gcp", "pulumi_docker", "grpc", "signal", "tempfile", "urllib",
}  # fmt: skip
IO_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _parse(text: str) -> ast.Module:
    """Parsed once per content: the planted-violation tests judge copies of the same files."""
    return ast.parse(text)


def parse(path: Path) -> ast.Module:
    return _parse(path.read_text(encoding="utf-8"))


def imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (absolute names)."""
    return set(_imports_in(path.read_text(encoding="utf-8")))


@functools.cache
def _imports_in(text: str) -> frozenset[str]:
    """Every module the source `text` imports (absolute names).

    Imports under `if TYPE_CHECKING:` are left out: they name a type for the annotations and
    never run (a decision may take the settings as data without depending on their module).
    """
    tree = _parse(text)
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from infra.google import client` imports the module infra.google.client
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def role_of(module: str) -> str | None:
    """The role of an infra module: the role of the package or module it is, or lies in."""
    if module == "infra":
        return "package"
    for role, names in ROLES.items():
        if role != "package" and any(module == n or module.startswith(n + ".") for n in names):
            return role
    return None


class Tree:
    """The infra modules under `root` and what each imports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = {module_name(p, root): p for p in (root / "infra").rglob("*.py")}
        self.graph = {
            name: {m for m in imports(path) if m in self.paths} for name, path in self.paths.items()
        }

    def reach(self, module: str) -> set[str]:
        seen: set[str] = set()
        todo = [module]
        while todo:
            for dep in self.graph.get(todo.pop(), set()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def in_role(self, role: str) -> list[str]:
        return sorted(m for m in self.paths if role_of(m) == role)

    def components(self) -> set[str]:
        """Modules that define a pulumi.ComponentResource."""
        return {
            name
            for name, path in self.paths.items()
            if _defines_component(path.read_text(encoding="utf-8"))
        }


@functools.cache
def _defines_component(text: str) -> bool:
    return any(
        isinstance(node, ast.ClassDef)
        and any(ast.unparse(base) == "pulumi.ComponentResource" for base in node.bases)
        for node in ast.walk(_parse(text))
    )


def _allowed(source: str, target: str) -> bool:
    allowed = MAY_IMPORT[role_of(source) or ""]
    return role_of(target) in allowed or target in allowed


def violations(root: Path) -> list[str]:
    """Every broken rule under `root`, one line each (empty: the layout holds)."""
    tree = Tree(root)
    found = [f"{m}: belongs to no role (add it to a folder)" for m in tree.paths if not role_of(m)]
    for source, targets in sorted(tree.graph.items()):
        if role_of(source) is None:
            continue
        for target in sorted(targets):
            if not _allowed(source, target):
                found.append(
                    f"{source} ({role_of(source)}) imports {target} ({role_of(target)}): "
                    f"{role_of(source)} may import only {sorted(MAY_IMPORT[role_of(source)])}"
                )
    for role, never, why in NEVER_REACH:
        for module in tree.in_role(role):
            bad = sorted(m for m in tree.reach(module) if role_of(m) in never)
            if bad:
                found.append(f"{module} reaches {bad} ({why})")
    for module in tree.in_role("rules"):
        found += _io_in_decision(module, tree.paths[module])
    outside = [m for m in tree.components() if role_of(m) != "components"]
    found += [f"{m} defines a ComponentResource outside infra/components/" for m in outside]
    found += _program_rules(root)
    found += _never_imports_infra(root, ["policy", "app_image"])
    return found


def _io_in_decision(module: str, path: Path) -> list[str]:
    roots = {name.split(".")[0] for name in imports(path)}
    found = (
        [f"{module} (a decision) imports {sorted(roots & IO_MODULES)}"]
        if roots & IO_MODULES
        else []
    )
    calls = {
        node.func.id
        for node in ast.walk(parse(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    if calls & IO_CALLS:
        found.append(f"{module} (a decision) calls {sorted(calls & IO_CALLS)}")
    return found


# Besides components, settings and preflight, the program needs the registry token for the push.
PROGRAM_EXTRAS = {"infra", "infra.google", "infra.google.credentials"}


def _program_rules(root: Path) -> list[str]:
    program = root / "__main__.py"
    tree = parse(program)
    logic = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.Try)
    found = [
        f"__main__.py holds logic ({type(node).__name__} at line {node.lineno}): move it to infra/"
        for node in ast.walk(tree)
        if isinstance(node, logic)
    ]
    wired = {"components", "settings", "preflight"}
    for name in sorted(imports(program)):
        top = name.split(".")[0]
        if top not in {"pulumi", "infra"}:
            found.append(f"__main__.py imports {name}: the program imports pulumi and infra only")
        elif top == "infra" and name not in PROGRAM_EXTRAS and role_of(name) not in wired:
            found.append(f"__main__.py imports {name}: the program wires {sorted(wired)}")
    return found


def _never_imports_infra(root: Path, folders: Iterable[str]) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name} (it must judge/run without infra/)"
        for folder in folders
        for path in sorted((root / folder).rglob("*.py"))
        if "venv" not in path.relative_to(root).parts[:2]
        for name in sorted(imports(path))
        if name.split(".")[0] == "infra"
    ]


# ------------------------------------------------------------------------------ the real tree


def test_the_layout_holds_every_rule():
    assert violations(PROJECT_ROOT) == []


def test_every_folder_holds_what_its_role_says():
    tree = Tree(PROJECT_ROOT)
    concerns = "apis registry identity secrets image service verification retention monitoring"
    assert tree.components() >= {f"infra.components.{m}" for m in concerns.split()}
    assert {"infra.providers.deployment_check", "infra.providers.retention"} <= set(
        tree.in_role("providers")
    )
    assert {"infra.rules.checks", "infra.rules.retention", "infra.rules.phase2"} <= set(
        tree.in_role("rules")
    )
    assert "infra.google.client" in tree.reach("infra.providers.retention")  # via cloud_run
    for command in ("plan", "local", "verify", "revisions", "phase2", "adopt"):
        assert f"infra.cli.{command}" in tree.paths
    assert tree.in_role("legacy") == ["infra.deployment_check", "infra.retention"]


# ---------------------------------------------------------------- a planted violation is caught


@pytest.fixture
def tree_copy(tmp_path):
    for folder in ("infra", "policy", "app_image"):
        shutil.copytree(
            PROJECT_ROOT / folder,
            tmp_path / folder,
            ignore=shutil.ignore_patterns("venv", "__pycache__", "*.pyc"),
        )
    shutil.copy(PROJECT_ROOT / "__main__.py", tmp_path / "__main__.py")
    assert violations(tmp_path) == []
    return tmp_path


def _plant(root: Path, relative: str, line: str) -> None:
    path = root / relative
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("relative", "line", "expected"),
    [
        # a decision reaching the Google client
        (
            "infra/rules/checks.py",
            "from infra.google import client",
            "infra.rules.checks (rules) imports infra.google.client (google)",
        ),
        ("infra/rules/phase2.py", "import requests", "infra.rules.phase2 (a decision) imports"),
        ("infra/rules/adoption.py", "print('x')", "infra.rules.adoption (a decision) calls"),
        # a component importing a command, even lazily and through a helper
        (
            "infra/components/service.py",
            "def _f():\n    from infra.cli import plan",
            "infra.components.service (components) imports infra.cli.plan (cli)",
        ),
        (
            "infra/google/cloud_run.py",
            "from infra.cli import CommandError",
            "infra.components.retention reaches ['infra.cli'",
        ),
        # a provider reading the settings
        (
            "infra/providers/retention.py",
            "from infra.config import Settings",
            "infra.providers.retention (providers) imports infra.config (settings)",
        ),
        ("infra/config.py", "from infra.components import apis", "infra.config (settings) imports"),
        ("policy/emergence_policy/rules.py", "import infra.config", "policy/emergence_policy"),
        ("app_image/app/main.py", "from infra import config", "app_image/app/main.py imports"),
        ("__main__.py", "for _ in []:\n    pass", "__main__.py holds logic (For"),
        ("__main__.py", "from infra.cli import main", "__main__.py imports infra.cli"),
        ("infra/stray.py", "X = 1", "infra.stray: belongs to no role"),
    ],
)
def test_a_planted_violation_is_caught(tree_copy, relative, line, expected):
    if not (tree_copy / relative).exists():
        (tree_copy / relative).write_text("", encoding="utf-8")
    _plant(tree_copy, relative, line)
    found = violations(tree_copy)
    assert any(expected in v for v in found), found
