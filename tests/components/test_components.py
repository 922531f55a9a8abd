"""Components refuse bad inputs in their constructor, before registering anything."""

from __future__ import annotations

import pytest

from infra.components import apis, identity, image, registry, secrets, service
from infra.config import PROJECT_DIR, load_stack_settings
from infra.local.build_spec import BuildSpec


@pytest.fixture(scope="module")
def service_settings():
    return load_stack_settings("prod", supplied_secrets=["smtpPassword"]).service


def repo_args(**kw):
    base = dict(
        project="p-123456",
        region="europe-west1",
        repository_id="app",
        images_to_keep=10,
        revisions_to_keep=3,
        untagged_max_age_days=14,
    )
    return registry.ArtifactRepositoryArgs(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"images_to_keep": 2}, "rollback images"),
        ({"repository_id": "App_Repo"}, "bad repository id"),
        ({"untagged_max_age_days": 0}, "at least 1"),
    ],
)
def test_repository_refuses(kw, message):
    with pytest.raises(ValueError, match=message):
        registry.ArtifactRepository("r", repo_args(**kw))


def test_cleanup_policies_keep_recent_and_delete_untagged_in_seconds():
    policies = registry.cleanup_policies(repo_args(images_to_keep=5, untagged_max_age_days=2))
    assert [p.action for p in policies] == ["KEEP", "DELETE"]
    assert policies[0].most_recent_versions.keep_count == 5
    assert policies[1].condition.older_than == "172800s"
    assert policies[1].condition.tag_state == "UNTAGGED"


def test_apis_refuse_bad_or_duplicate_names():
    with pytest.raises(ValueError, match="not Google API"):
        apis.ProjectApis("a", apis.ProjectApisArgs("p-123456", ("run",)))
    with pytest.raises(ValueError, match="twice"):
        apis.ProjectApis("a", apis.ProjectApisArgs("p-123456", ("run.googleapis.com",) * 2))


def test_identity_refuses_basic_roles_and_bad_ids():
    with pytest.raises(ValueError, match="basic roles"):
        identity.RuntimeIdentity(
            "i", identity.RuntimeIdentityArgs("p-123456", "emergence-run", "x", ("roles/owner",))
        )
    with pytest.raises(ValueError, match="service account id"):
        identity.RuntimeIdentity("i", identity.RuntimeIdentityArgs("p-123456", "ab", "x", ()))
    with pytest.raises(ValueError, match="per secret"):
        identity.RuntimeIdentity(
            "i",
            identity.RuntimeIdentityArgs(
                "p-123456", "emergence-run", "x", ("roles/secretmanager.secretAccessor",)
            ),
        )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (("OPENAI_API_KEY", "bad id!", "5"), "bad secret id"),
        (("OPENAI_API_KEY", "OPENAI_API_KEY", "latest"), "version number"),
        (("OPENAI_API_KEY", "OPENAI_API_KEY", "0"), "version number"),
        (("MAIL", "SMTP_PASSWORD", "2"), "the secret this stack owns"),
    ],
)
def test_secret_access_refuses_bad_references(ref, message):
    from infra.config import SecretRef

    args = secrets.SecretAccessArgs("p-123456", "serviceAccount:x@p.iam", (SecretRef(*ref),))
    with pytest.raises(ValueError, match=message):
        secrets.SecretAccess("s", args)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"K_FOO": "x"}, "set by Cloud Run"),
        ({"DB_PASSWORD": "x"}, "look like secrets"),
    ],
)
def test_service_refuses_reserved_and_secret_looking_env(env, message):
    with pytest.raises(ValueError, match=message):
        service.validate_env(env, ())


def test_service_refuses_an_unpinned_secret_env():
    with pytest.raises(ValueError, match="version number"):
        service.validate_env({}, (service.SecretEnv("OPENAI_API_KEY", "OPENAI_API_KEY", "latest"),))


@pytest.mark.parametrize("name", ["emergence-app", "a" * 49, "x-" * 20 + "y"])
def test_account_id_fits_iam_rules(name):
    account = identity.account_id_for(name)
    assert identity._ACCOUNT_ID.match(account), account
    assert len(account) <= 30


def test_secret_value_must_be_an_output_never_a_plain_string():
    with pytest.raises(TypeError, match="never a str"):
        secrets.SmtpSecret(
            "s", secrets.SmtpSecretArgs("p-123456", "plain-password", "serviceAccount:x")
        )


def app_image_spec(**kw) -> BuildSpec:
    """The spec of app_image/ (its Dockerfile), with `kw`'s fields."""
    return BuildSpec(PROJECT_DIR / "app_image", PROJECT_DIR / "app_image" / "Dockerfile", **kw)


def image_args(**kw):
    base = dict(
        spec=app_image_spec(),
        registry_server="europe-west1-docker.pkg.dev",
        repository_url="europe-west1-docker.pkg.dev/p/app",
        image_name="emergence-app",
        tag="deploy-20250101-000000-abcdef1",
        registry_password="token",
    )
    return image.AppImageArgs(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"tag": "bad tag"}, "not a valid Docker tag"),
        ({"image_name": "Emergence App"}, "image name"),
        ({"registry_server": "docker.io"}, "Artifact Registry"),
        (
            {"spec": BuildSpec(PROJECT_DIR, PROJECT_DIR / "Dockerfile", platform="linux/arm64")},
            "linux/amd64",
        ),
        (
            {"spec": BuildSpec(PROJECT_DIR, PROJECT_DIR / "D", cache_ref="docker.io/x:cache")},
            "credentials for that registry only",
        ),
    ],
)
def test_image_refuses(kw, message):
    with pytest.raises(ValueError, match=message):
        image.AppImage("i", image_args(**kw))


def service_args(settings, **kw):
    base = dict(
        project="p-123456",
        region="europe-west1",
        settings=settings,
        image="r/app@sha256:" + "0" * 64,
        service_account_email="x@p-123456.iam.gserviceaccount.com",
    )
    return service.AppServiceArgs(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"env": {"SMTP_PASSWORD": "hunter2"}}, "look like secrets"),
        ({"env": {"API_KEY": "k"}}, "look like secrets"),
        ({"env": {"PORT": "8080"}}, "set by Cloud Run"),
        ({"env": {"1BAD": "x"}}, "not a valid environment variable"),
        (
            {"env": {"A": "1"}, "secret_env": [service.SecretEnv("A", "s", "1")]},
            "declared twice",
        ),
        ({"secret_env": [service.SecretEnv("SMTP_PASSWORD", "s", "latest")]}, "version number"),
        ({"rollback_revision": "other-00001-abc"}, "not a revision"),
    ],
)
def test_service_refuses(service_settings, kw, message):
    with pytest.raises(ValueError, match=message):
        service.AppService("s", service_args(service_settings, **kw))


def test_traffic_targets_is_one_target_at_100_percent():
    assert service.traffic_targets(None) == [{"type": service.LATEST, "percent": 100}]
    pinned = service.traffic_targets("emergence-app-00001-abc")
    assert pinned == [
        {"type": service.REVISION, "revision": "emergence-app-00001-abc", "percent": 100}
    ]


def test_digest_check_refuses_a_tag():
    with pytest.raises(ValueError, match="by digest"):
        service._require_digest("europe-west1-docker.pkg.dev/p/app/emergence-app:latest")
    digest = "europe-west1-docker.pkg.dev/p/app/emergence-app@sha256:" + "a" * 64
    assert service._require_digest(digest) == digest


def test_build_command_matches_the_spec():
    spec = app_image_spec(
        target="runtime", build_args={"B": "2", "A": "1"}, cache_ref="r/app/e:buildcache"
    )
    argv = spec.docker_build_command("img:tag", network="host")
    assert argv[:2] == ["docker", "build"]
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert argv[argv.index("--target") + 1] == "runtime"
    assert argv[argv.index("--network") + 1] == "host"
    # the stack's arguments only, and no cache but the local engine's
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"] == ["A=1", "B=2"]
    assert "--cache-from" not in argv and "--cache-to" not in argv
    assert argv[-1] == str(PROJECT_DIR / "app_image")
    assert spec.relative(spec.dockerfile) == "app_image/Dockerfile"


def test_buildx_command_builds_the_same_inputs_with_a_registry_cache_and_pushes():
    cache = "r/app/emergence-app:buildcache"
    spec = app_image_spec(target="runtime", build_args={"B": "2", "A": "1"}, cache_ref=cache)
    argv = spec.buildx_build_command("img:tag", builder="ci", network="host")
    assert argv[:3] == ["docker", "buildx", "build"]
    assert argv[argv.index("--builder") + 1] == "ci"
    for flag, value in (
        ("--platform", "linux/amd64"),
        ("--file", str(spec.dockerfile)),
        ("--tag", "img:tag"),
        ("--target", "runtime"),
        ("--network", "host"),
        ("--cache-from", f"type=registry,ref={cache}"),
        (
            "--cache-to",
            f"type=registry,ref={cache},mode=max,image-manifest=true,oci-mediatypes=true,"
            "ignore-error=true",
        ),
    ):
        assert argv[argv.index(flag) + 1] == value, flag
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"] == ["A=1", "B=2"]
    assert argv.count("--cache-from") == 1
    assert "--push" in argv and "--provenance=false" in argv
    assert argv[-1] == str(spec.context)
    # no builder named: buildx's current one
    assert "--builder" not in spec.buildx_build_command("img:tag")


def test_buildx_command_without_a_cache_ref_reads_and_writes_no_cache():
    spec = app_image_spec()
    argv = spec.buildx_build_command("img:tag", builder="ci")
    assert "--cache-from" not in argv and "--cache-to" not in argv and "--network" not in argv
    assert argv[-2:] == ["--push", str(spec.context)]
    # read-only: the cache read, not rewritten
    argv = app_image_spec(cache_ref="r:c").buildx_build_command("img:tag", export_cache=False)
    assert "--cache-from" in argv and "--cache-to" not in argv


def test_the_resource_takes_the_registry_cache_as_the_buildx_command_does():
    cache_from, cache_to = image.cache_args("r/app/emergence-app:buildcache")
    assert cache_from[0].registry.ref == "r/app/emergence-app:buildcache"
    to = cache_to[0].registry
    assert (to.ref, to.mode, to.image_manifest, to.oci_media_types, to.ignore_error) == (
        "r/app/emergence-app:buildcache",
        "max",
        True,
        True,
        True,
    )
    assert image.cache_args(None) == (None, None)


def test_args_holding_a_secret_never_show_it():
    """A repr reaches tracebacks, pytest's failure reports and any debug print."""
    secret_args = secrets.SmtpSecretArgs("p-123456", "plain-password", "serviceAccount:x")
    assert "plain-password" not in repr(secret_args)
    assert "token-value" not in repr(image_args(registry_password="token-value"))
    with pytest.raises(TypeError) as refused:
        secrets.SmtpSecret("s", secret_args)
    assert "plain-password" not in str(refused.value)
