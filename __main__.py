"""emergence-app on Cloud Run: load the stack's settings, declare the components, export.

Wiring only: every decision lives in infra/ (see DEVELOPERS.md, "Architecture and style").
"""

import pulumi

from infra import (
    adoption,
    apis,
    credentials,
    gitinfo,
    identity,
    image,
    monitoring,
    registry,
    retention,
    rollback,
    secrets,
    service,
    verification,
)
from infra.build_spec import build_spec
from infra.config import PROJECT_DIR, load_settings

settings = load_settings()  # validated: a bad setting stops here, before any resource exists
rollback.check_rollback_target(settings)  # a pinned revision must exist, be Ready, be ours
git = gitinfo.read_git_info(PROJECT_DIR, settings.default_branch)
gate = gitinfo.check_deploy_source(
    git,
    stack=settings.stack,
    allow_dirty_deploy=settings.allow_dirty_deploy,
    default_branch=settings.default_branch,
    git_failure="" if git else gitinfo.git_failure(PROJECT_DIR),
)
gitinfo.enforce(gate, dry_run=pulumi.runtime.is_dry_run())  # `up` refused here: nothing touched
tag = gitinfo.image_tag(git)
adopt = adoption.import_ids(settings)  # adoptExisting: import the hand-made production

enabled = apis.ProjectApis("apis", apis.ProjectApisArgs(project=settings.project))
after_apis = pulumi.ResourceOptions(depends_on=enabled.services)

repository = registry.ArtifactRepository(
    "registry",
    registry.ArtifactRepositoryArgs(
        project=settings.project,
        region=settings.region,
        repository_id=settings.registry.repository_id,
        images_to_keep=settings.registry.images_to_keep,
        revisions_to_keep=settings.retention.revisions_to_keep,
        untagged_max_age_days=settings.registry.untagged_max_age_days,
        import_id=adopt.repository,
    ),
    opts=after_apis,
)
runtime = identity.RuntimeIdentity(
    "runtime",
    identity.RuntimeIdentityArgs(
        project=settings.project,
        account_id=identity.account_id_for(settings.service.name),
        display_name=f"{settings.service.name} runtime",
        roles=settings.service.runtime_roles,
    ),
    opts=after_apis,
)

secret_env, service_needs = [], [*enabled.services, *runtime.role_bindings]
smtp_secret = None
if settings.smtp.password is not None:
    smtp_secret = secrets.SmtpSecret(
        "smtp-password",
        secrets.SmtpSecretArgs(
            project=settings.project,
            value=settings.smtp.password,
            accessor_member=runtime.member,
            import_id=adopt.secret,
        ),
        opts=after_apis,
    )
    secret_env.append(
        service.SecretEnv(
            "SMTP_PASSWORD", smtp_secret.secret.secret_id, smtp_secret.version.version
        )
    )
    service_needs.append(smtp_secret.accessor)  # Cloud Run checks secret access at deploy

app_image = image.AppImage(
    "app",
    image.AppImageArgs(
        spec=build_spec(settings.image),
        registry_server=settings.registry_host,
        repository_url=repository.url,
        image_name=settings.image.image_name,
        tag=tag,
        registry_password=credentials.registry_password(),
    ),
)
app = service.AppService(
    "app",
    service.AppServiceArgs(
        project=settings.project,
        region=settings.region,
        settings=settings.service,
        image=app_image.repo_digest,
        service_account_email=runtime.email,
        env=settings.smtp.env(),
        secret_env=secret_env,
        rollback_revision=settings.rollback_revision,
        import_id=adopt.service,
        invoker_import_id=adopt.invoker,
    ),
    opts=pulumi.ResourceOptions(depends_on=service_needs),
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
    opts=pulumi.ResourceOptions(depends_on=[app]),
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
    opts=pulumi.ResourceOptions(depends_on=[app, checked]),
)

if settings.monitoring.enabled:
    monitoring.Monitoring(
        "monitoring",
        monitoring.MonitoringArgs(
            project=settings.project,
            service_name=settings.service.name,
            service_url=app.uri,
            health_path=settings.service.startup_probe.path,
            alert_emails=settings.monitoring.alert_emails,
            uptime_period_seconds=settings.monitoring.uptime_period_seconds,
            uptime_timeout_seconds=settings.monitoring.uptime_timeout_seconds,
            error_ratio_threshold_percent=settings.monitoring.error_ratio_threshold_percent,
            error_ratio_duration_seconds=settings.monitoring.error_ratio_duration_seconds,
            phase2=settings.phase2,
            authenticated=settings.service.public_access == "private",
        ),
        opts=after_apis,
    )

pulumi.export("serviceUrl", app.uri)
pulumi.export("latestReadyRevision", app.latest_ready_revision)
pulumi.export("imageTag", tag)
pulumi.export("imageDigest", app_image.repo_digest)
pulumi.export("secretId", smtp_secret.secret.secret_id if smtp_secret else None)
pulumi.export("serviceAccountEmail", runtime.email)
pulumi.export("trafficPinnedTo", settings.rollback_revision or "LATEST")
pulumi.export("deploySource", gate.record())
pulumi.export("verifyDeployment", checked.enabled)
pulumi.export("deploymentCheck", checked.summary)
pulumi.export("revisionRetention", pruned.summary)
