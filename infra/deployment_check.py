"""Legacy import path of the post-deploy gate's provider: it lives in infra/providers/.

A Python dynamic provider is pickled into the stack's state by reference: state written before
the `infra/` layout change names `infra.deployment_check.DeploymentCheckProvider`, and the
engine imports that path to diff, update or delete such a resource. This module keeps that path
importable; the next `pulumi up` that updates the gate stores the new path
(`infra.providers.deployment_check`). Import from infra/providers/, never from here.
"""

from infra.providers.deployment_check import DeploymentCheckProvider

__all__ = ["DeploymentCheckProvider"]
