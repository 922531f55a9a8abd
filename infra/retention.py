"""Legacy import path of the revision retention provider: it lives in infra/providers/.

A Python dynamic provider is pickled into the stack's state by reference: state written before
the `infra/` layout change names `infra.retention.RetentionProvider`, and the engine imports that
path to diff, update or delete such a resource. This module keeps that path importable; the next
`pulumi up` that updates retention stores the new path (`infra.providers.retention`). Import
from infra/providers/ (the provider) or infra/components/ (the component), never from here.
"""

from infra.providers.retention import RetentionProvider

__all__ = ["RetentionProvider"]
