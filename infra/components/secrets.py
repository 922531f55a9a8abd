"""Secret Manager: the secret SMTP_PASSWORD this stack owns (secret, version, access), and
access to the existing secrets the app reads (appSecretEnv), which this stack never owns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import SecretRef, Settings
from infra.rules.adoption import SMTP_SECRET_ID, secret_import_id

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_VERSION = re.compile(r"^[1-9][0-9]*$")


@dataclass
class SmtpSecretArgs:
    project: str
    value: pulumi.Input[str] = field(repr=False)  # must be a secret Output; never shown
    accessor_member: pulumi.Input[str]  # serviceAccount:<email>
    secret_id: str = SMTP_SECRET_ID
    import_id: str | None = None  # adoption: import the existing secret (infra/rules/adoption.py)

    @classmethod
    def from_settings(
        cls, settings: Settings, accessor_member: pulumi.Input[str], import_id: str | None = None
    ) -> SmtpSecretArgs:
        return cls(
            project=settings.project,
            value=settings.smtp.password,
            accessor_member=accessor_member,
            import_id=import_id,
        )


class SmtpSecret(pulumi.ComponentResource):
    """The secret, one version holding the stack's value, and secretAccessor on it.

    The Cloud Run env var pins `version.version` (not `latest`): a new password creates a new
    version and so rolls a new revision. Old versions are abandoned, not destroyed, so a
    rollback target pinned to one still starts.
    """

    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion
    accessor: gcp.secretmanager.SecretIamMember

    def __init__(self, name: str, args: SmtpSecretArgs, opts: pulumi.ResourceOptions | None = None):
        if not _SECRET_ID.match(args.secret_id):
            raise ValueError(f"SmtpSecret: bad secret id {args.secret_id!r}")
        if not isinstance(args.value, pulumi.Output):
            raise TypeError("SmtpSecret: the value must be a secret pulumi.Output, never a str")
        super().__init__("emergence:secrets:SmtpSecret", name, None, opts)
        expected = secret_import_id(args.project, args.secret_id)
        if args.import_id is not None and args.import_id != expected:
            raise ValueError(f"SmtpSecret: import id {args.import_id!r} is not {expected!r}")
        child = child_options(self, opts)
        self.secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            project=args.project,
            secret_id=args.secret_id,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs(),
            ),
            labels={"managed-by": "pulumi", "app": "emergence"},
            opts=child_options(self, opts, import_=args.import_id),
        )
        self.version = gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=self.secret.id,
            secret_data=pulumi.Output.secret(args.value),
            deletion_policy="ABANDON",
            opts=child,
        )
        self.accessor = gcp.secretmanager.SecretIamMember(
            f"{name}-accessor",
            project=args.project,
            secret_id=self.secret.id,
            role=ACCESSOR_ROLE,
            member=args.accessor_member,
            opts=child,
        )
        self.register_outputs({"secret_id": self.secret.secret_id, "version": self.version.version})


@dataclass
class SecretAccessArgs:
    project: str
    accessor_member: pulumi.Input[str]  # serviceAccount:<email>
    refs: Sequence[SecretRef] = ()  # appSecretEnv: env var -> existing secret, pinned version

    @classmethod
    def from_settings(
        cls, settings: Settings, accessor_member: pulumi.Input[str]
    ) -> SecretAccessArgs:
        return cls(
            project=settings.project,
            accessor_member=accessor_member,
            refs=settings.service.secret_env,
        )


class SecretAccess(pulumi.ComponentResource):
    """secretAccessor for the runtime account on each existing secret the app reads, on that
    secret alone (never the project). The secrets and their versions are not declared: they
    exist already and belong to whoever made them, so no `pulumi destroy` or update can touch
    them. One binding per secret, however many env vars read it. The service depends on
    `bindings`: Cloud Run checks that access when it deploys a revision.
    """

    bindings: list[gcp.secretmanager.SecretIamMember]

    def __init__(
        self, name: str, args: SecretAccessArgs, opts: pulumi.ResourceOptions | None = None
    ):
        for ref in args.refs:
            if not _SECRET_ID.match(ref.secret_id):
                raise ValueError(f"SecretAccess: bad secret id {ref.secret_id!r} for {ref.name}")
            if not _VERSION.match(ref.version):
                raise ValueError(
                    f"SecretAccess: pin {ref.name} to a version number, not {ref.version!r}"
                )
            if ref.secret_id == SMTP_SECRET_ID:
                raise ValueError(
                    f"SecretAccess: {SMTP_SECRET_ID} is the secret this stack owns (SmtpSecret)"
                )
        super().__init__("emergence:secrets:SecretAccess", name, None, opts)
        self.bindings = [
            gcp.secretmanager.SecretIamMember(
                f"{name}-{secret_id}",
                project=args.project,
                secret_id=secret_import_id(args.project, secret_id),
                role=ACCESSOR_ROLE,
                member=args.accessor_member,
                opts=child_options(self, opts),
            )
            for secret_id in sorted({ref.secret_id for ref in args.refs})
        ]
        self.register_outputs(
            {"secrets": sorted({ref.secret_id for ref in args.refs}), "role": ACCESSOR_ROLE}
        )
