"""emergence-app on Cloud Run: load the stack's settings, declare the components, export.

Wiring only: every decision lives in infra/ (see DEVELOPERS.md, "Architecture and style").
"""

import pulumi

from infra.components import (
    apis,
    identity,
    image,
    monitoring,
    registry,
    retention,
    secrets,
    service,
    verification,
)
from infra.config import load_settings
from infra.google import credentials
from infra.preflight import preflight

settings = load_settings()  # validated: a bad setting stops here, before any resource exists
checked_in = preflight(settings)  # rollback target, app source, gate, tag, cache, imports
imports = checked_in.imports

enabled = apis.ProjectApis("apis", apis.ProjectApisArgs.from_settings(settings))
after_apis = pulumi.ResourceOptions(depends_on=enabled.services)
repository = registry.ArtifactRepository(
    "registry",
    registry.ArtifactRepositoryArgs.from_settings(settings, imports.repository),
    after_apis,
)
runtime = identity.RuntimeIdentity(
    "runtime", identity.RuntimeIdentityArgs.from_settings(settings), after_apis
)

secret_env, service_needs = [], [*enabled.services, *runtime.role_bindings]
smtp = None
if settings.smtp.password is not None:
    smtp = secrets.SmtpSecret(
        "smtp-password",
        secrets.SmtpSecretArgs.from_settings(settings, runtime.member, imports.secret),
        after_apis,
    )
    secret_env.append(
        service.SecretEnv("SMTP_PASSWORD", smtp.secret.secret_id, smtp.version.version)
    )
    service_needs.append(smtp.accessor)  # Cloud Run checks secret access at deploy
if settings.service.secret_env:  # existing secrets the app reads: access only, never owned
    app_secrets = secrets.SecretAccess(
        "app-secrets", secrets.SecretAccessArgs.from_settings(settings, runtime.member), after_apis
    )
    secret_env += [
        service.SecretEnv(ref.name, ref.secret_id, ref.version)
        for ref in settings.service.secret_env
    ]
    service_needs += app_secrets.bindings

app_image = image.AppImage(
    "app",
    image.AppImageArgs.from_settings(
        settings,
        repository.url,
        checked_in.tag,
        credentials.registry_password(),
        context=checked_in.context,  # staged from the app's source: only the allow-list
    ),
)
app = service.AppService(
    "app",
    service.AppServiceArgs.from_settings(
        settings,
        image=app_image.repo_digest,
        service_account_email=runtime.email,
        secret_env=secret_env,
        import_id=imports.service,
        invoker_import_id=imports.invoker,
    ),
    pulumi.ResourceOptions(depends_on=service_needs),
)
# The gate: checks the deployed service against the contract; a failure fails `pulumi up`.
checked = verification.Verification(
    "verify",
    verification.VerificationArgs.from_settings(
        settings,
        service_url=app.uri,
        revision=app.latest_ready_revision,
        image_digest=app_image.repo_digest,
    ),
    pulumi.ResourceOptions(depends_on=[app]),
)
# After the gate: keep the newest ready revisions (and the rollback target), delete the rest.
pruned = retention.Retention(
    "retention",
    retention.RetentionArgs.from_settings(
        settings,
        service_name=app.service.name,
        latest_revision=app.latest_ready_revision,
        image_digest=app_image.repo_digest,
    ),
    pulumi.ResourceOptions(depends_on=[app, checked]),
)
if settings.monitoring.enabled:
    monitoring.Monitoring(
        "monitoring", monitoring.MonitoringArgs.from_settings(settings, app.uri), after_apis
    )

pulumi.export("serviceUrl", app.uri)
pulumi.export("latestReadyRevision", app.latest_ready_revision)
pulumi.export("imageTag", checked_in.tag)
pulumi.export("imageDigest", app_image.repo_digest)
pulumi.export("secretId", smtp.secret.secret_id if smtp else None)
pulumi.export("serviceAccountEmail", runtime.email)
pulumi.export("trafficPinnedTo", settings.rollback_revision or "LATEST")
pulumi.export("deploySource", checked_in.gate.record())
pulumi.export("verifyDeployment", checked.enabled)
pulumi.export("deploymentCheck", checked.summary)
pulumi.export("revisionRetention", pruned.summary)
