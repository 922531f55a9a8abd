"""emergence-app on Cloud Run: load the stack's settings, declare the components, export.

Wiring only: every decision lives in infra/ (see DEVELOPERS.md, "Architecture and style").
"""

import pulumi

from infra import apis, credentials, gitinfo, identity, image, registry, secrets, service
from infra.build_spec import build_spec
from infra.config import PROJECT_DIR, load_settings

settings = load_settings()  # validated: a bad setting stops here, before any resource exists
tag = gitinfo.image_tag(gitinfo.read_git_info(PROJECT_DIR))

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
    ),
    opts=pulumi.ResourceOptions(depends_on=service_needs),
)

pulumi.export("serviceUrl", app.uri)
pulumi.export("latestReadyRevision", app.latest_ready_revision)
pulumi.export("imageTag", tag)
pulumi.export("imageDigest", app_image.repo_digest)
pulumi.export("secretId", smtp_secret.secret.secret_id if smtp_secret else None)
pulumi.export("serviceAccountEmail", runtime.email)
pulumi.export("trafficPinnedTo", settings.rollback_revision or "LATEST")
