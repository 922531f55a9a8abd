"""Helpers shared by the components."""

from __future__ import annotations

from typing import Any

import pulumi


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None, **extra: Any
) -> pulumi.ResourceOptions:
    """Options for a component's child: `parent=`, plus the component's explicit `depends_on`.

    Pulumi does not pass a component's `depends_on` down to its children, so without this a
    child could be created before what its component was declared to wait for (an API being
    enabled, the secret accessor binding).
    """
    return pulumi.ResourceOptions(
        parent=parent, depends_on=opts.depends_on if opts else None, **extra
    )
