"""The runtime service account: dedicated to the service, never the default compute one.

It holds the project roles the stack lists (`runtimeRoles`; prod's are what the real app's code
uses, see README "Stack prod's runtime roles") and never a basic role; secret access is granted
on each secret by the secrets components, never here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import Settings

_ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name


def account_id_for(service_name: str) -> str:
    """`<service>-run`, cut to the 30 characters IAM allows."""
    return f"{service_name[:26].rstrip('-')}-run"


@dataclass
class RuntimeIdentityArgs:
    project: str
    account_id: str
    display_name: str
    roles: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeIdentityArgs:
        name = settings.service.name
        return cls(
            project=settings.project,
            account_id=account_id_for(name),
            display_name=f"{name} runtime",
            roles=settings.service.runtime_roles,
        )


class RuntimeIdentity(pulumi.ComponentResource):
    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    member: pulumi.Output[str]

    def __init__(
        self, name: str, args: RuntimeIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ):
        if not _ACCOUNT_ID.match(args.account_id):
            raise ValueError(f"RuntimeIdentity: bad service account id {args.account_id!r}")
        basic = sorted(set(args.roles) & BASIC_ROLES)
        if basic:
            raise ValueError(f"RuntimeIdentity: basic roles are never granted: {basic}")
        if SECRET_ACCESSOR in args.roles:
            raise ValueError(
                "RuntimeIdentity: secretAccessor is granted per secret (SmtpSecret, "
                "SecretAccess), never on the project"
            )
        super().__init__("emergence:identity:RuntimeIdentity", name, None, opts)
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            project=args.project,
            account_id=args.account_id,
            display_name=args.display_name,
            description="Runtime identity of the Cloud Run service (emergence-cloudrun).",
            opts=child_options(self, opts),
        )
        self.email = self.account.email
        self.member = self.account.member
        self.role_bindings = [
            gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-').lower()}",
                project=args.project,
                role=role,
                member=self.member,
                opts=child_options(self, opts),
            )
            for role in args.roles
        ]
        self.register_outputs({"email": self.email})
