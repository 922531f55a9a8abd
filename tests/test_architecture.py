"""The dependency rules of /work/shared/DESIGN.md, checked on the source (imports read with ast).

Program -> Components -> Settings; Components and CLI -> Decisions and the Google client. Never:
components importing the CLI; decisions doing I/O; settings importing a component; the image
(app_image/) importing infra/. The policy pack's own rule (never infra/) is checked in
tests/test_policy_pack.py. Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.conftest import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"

# Pure decisions: data in, verdict out (DESIGN.md, "Decisions").
DECISIONS = ("infra.verify_rules", "infra.retention_plan", "infra.phase2", "infra.adoption")
# Standard and third-party modules that reach the network, processes, files or the terminal.
IO_MODULES = {
    "requests", "urllib3", "socket", "http", "subprocess", "shutil", "os", "pathlib", "io",
    "google", "googleapiclient", "docker", "sys", "yaml", "msgspec", "threading", "time",
}  # fmt: skip
IO_CALLS = {"open", "print", "input"}
# infra modules that do I/O: a decision importing one would do I/O through it.
IO_INFRA = {
    "infra.gcp_api", "infra.verify", "infra.revisions_api", "infra.logread", "infra.logsource",
    "infra.gitinfo", "infra.credentials", "infra.mockrun", "infra.rollback", "infra.preflight",
    "infra.deployment_check", "infra.retention",
}  # fmt: skip


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (absolute names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from infra import gcp_api` imports the module infra.gcp_api
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    """infra module -> the infra modules it imports directly."""
    modules = {_module_name(p): p for p in INFRA.glob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def _reach(module: str) -> set[str]:
    """The infra modules `module` imports, directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for dep in _graph().get(todo.pop(), set()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _is_cli(module: str) -> bool:
    return module in ("infra.cli", "infra.__main__") or module.startswith("infra.cli_")


def _components() -> set[str]:
    """Modules that define a pulumi.ComponentResource."""
    found = set()
    for path in INFRA.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base) == "pulumi.ComponentResource" for base in node.bases
            ):
                found.add(_module_name(path))
    return found


def test_the_graph_sees_the_modules_it_judges():
    graph = _graph()
    assert set(DECISIONS) | IO_INFRA | {"infra.config", "infra.cli"} <= graph.keys()
    assert {"infra.service", "infra.retention", "infra.verification"} <= _components()
    assert "infra.gcp_api" in _reach("infra.retention")  # through infra.revisions_api too


def test_nothing_but_the_cli_imports_the_cli():
    for module in _graph():
        if not _is_cli(module):
            cli = sorted(m for m in _reach(module) if _is_cli(m))
            assert cli == [], f"{module} imports the CLI: {cli}"


def test_components_never_reach_the_cli_even_through_another_module():
    for component in _components():
        assert not any(_is_cli(m) for m in _reach(component)), component


def test_decisions_do_no_io():
    for module in DECISIONS:
        path = PROJECT_ROOT / Path(*module.split(".")).with_suffix(".py")
        roots = {name.split(".")[0] for name in _imports(path)}
        assert roots.isdisjoint(IO_MODULES), f"{module} imports {sorted(roots & IO_MODULES)}"
        reached = _reach(module) & (IO_INFRA | _components())
        assert reached == set(), f"{module} reaches {sorted(reached)}"
        calls = {
            node.func.id
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert calls.isdisjoint(IO_CALLS), f"{module} calls {sorted(calls & IO_CALLS)}"


def test_settings_import_no_component():
    reached = _reach("infra.config")
    assert reached.isdisjoint(_components()), sorted(reached & _components())
    assert reached <= set(DECISIONS), f"settings import {sorted(reached - set(DECISIONS))}"
    assert not {"pulumi_gcp", "pulumi_docker"} & _imports(INFRA / "config.py")


def test_the_image_never_imports_infra():
    for path in (PROJECT_ROOT / "app_image").rglob("*.py"):
        infra = sorted(m for m in _imports(path) if m.split(".")[0] == "infra")
        assert infra == [], f"{path.relative_to(PROJECT_ROOT)} imports {infra}"


def test_the_program_is_wiring_only():
    tree = ast.parse((PROJECT_ROOT / "__main__.py").read_text(encoding="utf-8"))
    logic = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.Try)
    found = [type(node).__name__ for node in ast.walk(tree) if isinstance(node, logic)]
    assert found == [], f"__main__.py holds logic ({found}): move it into infra/"
    roots = {name.split(".")[0] for name in _imports(PROJECT_ROOT / "__main__.py")}
    assert roots <= {"pulumi", "infra"}, roots
