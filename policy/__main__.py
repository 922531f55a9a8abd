"""The policy pack: `pulumi preview --policy-pack policy`. Constructs the pack and nothing else.

The rules live in `emergence_policy/` (importable here because Pulumi runs this directory with
`runpy`, which puts it first on `sys.path`). Never import this file: `PolicyPack(...)` starts a
gRPC server and blocks forever.
"""

from emergence_policy import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
