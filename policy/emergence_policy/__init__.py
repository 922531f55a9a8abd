"""emergence-cloudrun's policy pack: the deployment guide's rules, judged on any stack.

`POLICIES` is what `policy/__main__.py` hands to `PolicyPack`; tests import it from here
(constructing the pack starts a gRPC server and blocks, so only `__main__.py` does that).
This package never imports the program (`infra/`): it judges the resources, not the code.
"""

from .rules import POLICIES

PACK_NAME = "emergence-cloudrun"

__all__ = ["PACK_NAME", "POLICIES"]
