"""The pack as a whole: its files, its metadata, its config schema, and the pack really running.

`test_the_pack_answers_the_engine_over_grpc` starts the pack the way the Pulumi CLI does
(`python -u -m pulumi.policy <engine> policy`, in the pack's own virtualenv policy/venv made by
scripts/policy-venv.sh) and talks to it over gRPC like the engine: that proves `__main__.py`
constructs the pack, that the rules import with only policy/requirements.txt installed, and
that a violation comes back as a mandatory diagnostic.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import grpc
import jsonschema
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from tests.policy_helpers import (
    POLICIES,
    POLICY_DIR,
    SERVICE_V2,
    ConfigError,
    Pack,
    compliant_stack,
    find,
    policy_infos,
    reconcile_config,
)

ROOT = POLICY_DIR.parent
PACK_SOURCES = [POLICY_DIR / "__main__.py", *sorted((POLICY_DIR / "emergence_policy").glob("*.py"))]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_every_policy_has_a_unique_name_a_fix_and_an_explicit_level():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 16
    for policy in POLICIES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name), policy.name
        assert "Fix: " in policy.description, policy.name
        assert policy.enforcement_level is EnforcementLevel.MANDATORY, policy.name


def test_the_issue_lists_four_stack_policies_and_twelve_resource_policies():
    stack = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}
    resource = {p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
    assert stack == {
        "single-cloud-run-service",
        "single-traffic-target",
        "revision-retention",
        "registry-cleanup-keeps-revisions",
    }
    assert len(resource) == 12


def test_config_schemas_are_valid_json_schema_with_valid_defaults():
    infos = policy_infos()
    configured = {i.name for i in infos if i.configSchema.properties}
    assert configured == {
        "region-allowed",
        "revision-retention",
        "public-invoker-allowed",
        "deletion-protection",
    }
    defaults = reconcile_config(infos, None)
    assert defaults["region-allowed"][1] == {"allowedRegions": ["europe-west1"]}
    assert defaults["revision-retention"][1] == {"maxRevisions": 3}
    assert defaults["public-invoker-allowed"][1] == {"publicAccessAllowed": True}
    assert defaults["deletion-protection"][1] == {"protectedStacks": ["prod"]}
    for policy in POLICIES:
        if policy.config_schema is not None:
            schema = {"type": "object", "properties": policy.config_schema.properties}
            jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize(
    "config",
    [
        {"revision-retention": {"maxRevisions": "three"}},
        {"revision-retention": {"maxRevisions": 0}},
        {"region-allowed": {"allowedRegions": []}},
        {"region-allowed": {"allowedRegions": "europe-west1"}},
        {"public-invoker-allowed": {"publicAccessAllowed": "yes"}},
        {"no-such-policy": {"x": 1}},
    ],
)
def test_a_bad_config_is_refused_naming_the_policy(config):
    with pytest.raises(ConfigError, match=next(iter(config))):
        Pack(config)


def test_the_enforcement_level_can_be_lowered_by_config():
    stack = compliant_stack()
    find(stack, SERVICE_V2).props["template"]["containers"][0].pop("startupProbe")
    report = Pack({"startup-probe": "advisory"}).preview(stack)
    assert report.violated == set()
    assert [f.level for f in report.findings if f.policy == "startup-probe"] == ["ADVISORY"]
    assert Pack({"startup-probe": "disabled"}).preview(stack).findings == []


def test_the_prod_config_file_is_valid_and_explicit():
    config = json.loads((POLICY_DIR / "prod.config.json").read_text())
    assert config["public-invoker-allowed"] == {"publicAccessAllowed": True}
    assert Pack(config).preview(compliant_stack()).findings == []


def test_pulumi_policy_yaml_runs_python_in_the_packs_own_virtualenv():
    spec = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", spec["version"])
    assert spec["description"]
    assert "policy/venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_pack_requirements_pin_what_the_tests_run():
    pack, project = _pins(POLICY_DIR / "requirements.txt"), _pins(ROOT / "requirements.txt")
    assert set(pack) == {"pulumi-policy", "pulumi"}
    for name, version in pack.items():
        assert project[name] == version, name


def test_main_constructs_the_pack_and_nothing_else():
    tree = ast.parse((POLICY_DIR / "__main__.py").read_text())
    statements = [s for s in tree.body if not isinstance(s, ast.Import | ast.ImportFrom)]
    assert len(statements) == 2  # the docstring and PolicyPack(...)
    call = statements[1].value
    assert isinstance(call, ast.Call)
    assert isinstance(call.func, ast.Name)
    assert call.func.id == "PolicyPack"
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert keywords["policies"] == "POLICIES"


# What the pack may import: itself, pulumi-policy and the standard library, never `infra`.
ALLOWED_IMPORTS = {"emergence_policy", "pulumi_policy", "__future__", "collections", "json", "re"}
ALLOWED_IMPORTS |= {"types", "typing"}


def test_the_pack_never_imports_the_program():
    for path in PACK_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {module}"


# --- the pack, running ----------------------------------------------------------------------------


def _read_port(process: subprocess.Popen[bytes], timeout: float) -> int:
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0].strip().isdigit():
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"the pack did not print its port: {line!r}\n{err.decode()[-2000:]}")
    return int(line[0])


@pytest.fixture(scope="module")
def pack_python() -> Path:
    """policy/venv's python, made by scripts/policy-venv.sh (a no-op once it exists)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "policy-venv.sh")], check=True, timeout=600)
    return POLICY_DIR / "venv" / "bin" / "python"


def test_the_pack_answers_the_engine_over_grpc(pack_python):
    process = subprocess.Popen(
        [str(pack_python), "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(POLICY_DIR)],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _read_port(process, timeout=120)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            assert info.name == "emergence-cloudrun"
            assert [p.name for p in info.policies] == [p.name for p in POLICIES]
            assert {proto.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies} == {
                "MANDATORY"
            }
            request = proto.ConfigureAnalyzerRequest()
            for name, (level, props) in reconcile_config(info.policies, None).items():
                request.policyConfig[name].enforcementLevel = level
                request.policyConfig[name].properties.update(props)
            stub.Configure(request, timeout=30)

            stack = compliant_stack()
            service = find(stack, SERVICE_V2)
            assert list(stub.Analyze(service.analyze_request(), timeout=30).diagnostics) == []
            service.props["template"]["containers"][0]["image"] = "emergence-app:latest"
            diagnostics = stub.Analyze(service.analyze_request(), timeout=30).diagnostics
            assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
                ("image-by-digest", proto.MANDATORY)
            ]
            stack.append(replace(service, name="emergence-app-second", urn=""))
            request = proto.AnalyzeStackRequest(resources=[r.stack_resource() for r in stack])
            names = {d.policyName for d in stub.AnalyzeStack(request, timeout=30).diagnostics}
            assert names == {"single-cloud-run-service"}
    finally:
        process.terminate()
        process.communicate(timeout=30)


# --- the README's account of the pack -------------------------------------------------------------


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Policy pack\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_readme_table_lists_every_policy_with_its_level_and_existing_tests():
    from tests.policy.test_program import MUTATION_POLICY

    policies_table = _readme_section().split("\n### Policies\n", 1)[1]
    table = {}
    for row in (line for line in policies_table.splitlines() if line.startswith("| `")):
        cells = [c.strip() for c in row.strip("|").split("|")]
        table[cells[0].strip("`")] = cells
    assert list(table) == [p.name for p in POLICIES]
    for policy in POLICIES:
        _, kind, level, checks, tests = table[policy.name]
        assert level == policy.enforcement_level.value
        assert kind == ("stack" if isinstance(policy, StackValidationPolicy) else "resource")
        assert checks
        refs = re.findall(r"`(policy/test_\w+\.py)::(\w+)(?:\[([\w-]+)\])?`", tests)
        files = {file for file, _, _ in refs}
        assert files == {"policy/test_rules.py", "policy/test_program.py"}, policy.name
        for file, function, param in refs:
            tree = ast.parse((ROOT / "tests" / file).read_text())
            functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert function in functions, f"{file}::{function} (README, {policy.name})"
            if param:
                assert MUTATION_POLICY.get(param) == policy.name, f"[{param}] for {policy.name}"


def test_the_readme_config_example_is_the_committed_file_and_valid():
    blocks = re.findall(r"```json\n(.*?)```", _readme_section(), re.S)
    assert len(blocks) == 1
    example = json.loads(blocks[0])
    assert example == json.loads((POLICY_DIR / "prod.config.json").read_text())
    reconcile_config(policy_infos(), example)  # raises ConfigError if the CLI would refuse it
    for line in _readme_section().splitlines():
        if line.startswith("| `") and line.count("|") == 6 and "` | `" in line:
            policy, setting = (c.strip().strip("`") for c in line.strip("|").split("|")[:2])
            assert setting in example[policy], line
