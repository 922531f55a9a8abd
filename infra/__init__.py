"""emergence-cloudrun: everything `__main__.py` (the Pulumi program) and `python -m infra` use.

One folder per role (../shared/DESIGN.md; the rules between them are tests/test_architecture.py):

    config.py     settings: the one frozen Settings, built once from the stack, validated
    components/   the Pulumi ComponentResources the program wires, one per concern
    providers/    the dynamic providers the engine runs in its own process (the gate, retention)
    rules/        pure decisions: data in, verdict out, no I/O
    google/       the one Google API client and a thin module per API (Cloud Run, Logging)
    probes/       HTTP to the running app: the post-deploy checks, the metrics scrape
    preflight/    what the program settles before it declares anything (git, rollback target)
    local/        the build spec shared with `pulumi up`, and the local run in Docker
    cli/          the commands of `python -m infra`
    mockrun.py    the mock engine: the program evaluated offline (plan, adopt, tests)

Dependencies run one way: the program uses components, components use settings; components,
providers and commands use the decisions and the Google client. Nothing imports a command but a
command, decisions import no I/O, and settings import no component.

`deployment_check.py` and `retention.py` at this level only re-export the two providers under
the module paths that stacks created before this layout pickled into their state.
"""
