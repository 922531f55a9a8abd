"""Live services for `python -m infra adopt` to compare with: production as the app's deploy
records made it (gcloud), and the service as `pulumi up` leaves it (the program's inputs)."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.cloud_run import FakeCloudRun, gcloud_template, pinned, tagged

SERVICE = "emergence-app"
LIVE_IMAGE = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app:p2-sprint3"
SERVING = "emergence-app-00348-rih"
CANARY = "emergence-app-00279-kub"
# docs/deployments/2025-10-10-deploy-p2-sprint3.md of DrKz36/emergencev8: --set-env-vars and
# --set-secrets, in the order given.
LIVE_ENV = {
    "CONCEPT_RECALL_METRICS_ENABLED": "true",
    "PYTHONPATH": "/app/src",
    "GOOGLE_ALLOWED_EMAILS": "gonzalefernando@gmail.com",
    "AUTH_DEV_MODE": "0",
}
LIVE_SECRETS = {
    "OPENAI_API_KEY": "OPENAI_API_KEY:5",
    "GOOGLE_API_KEY": "GOOGLE_API_KEY:5",
    "ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY:5",
}
DEPLOYED = {
    "cpu": "2",
    "memory": "2Gi",
    "min_instances": 1,
    "max_instances": 10,
    "concurrency": 40,
    "timeout": "300s",
    "port": 8080,
}


def seed_live_production(
    fake: FakeCloudRun,
    *,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    **deployed: Any,
) -> None:
    """emergence-app as `gcloud run deploy ... --tag p2-sprint3` and `update-traffic --to-tags
    p2-sprint3=100` left it: the default compute account, gcloud's client fields and
    annotations, 100% pinned to the tagged revision and a 0% `canary` tag on an older one."""
    fake.add_service(SERVICE)
    fake.deploy(SERVICE, revision_id=CANARY)
    fake.deploy(SERVICE, revision_id=SERVING, image=LIVE_IMAGE)
    fake.set_template(
        SERVICE,
        **gcloud_template(
            image=LIVE_IMAGE,
            env=LIVE_ENV if env is None else env,
            secrets=LIVE_SECRETS if secrets is None else secrets,
            **{**DEPLOYED, **deployed},
        ),
    )
    fake.update_service(SERVICE, client="gcloud", clientVersion="539.0.0")
    fake.set_traffic(SERVICE, [pinned(SERVING, 100, tag="p2-sprint3"), tagged(CANARY, "canary")])


def _api_shape(node: Any) -> Any:
    """pulumi-gcp inputs -> the Admin API's shape (`envs` -> `env`, one `ports` -> a list)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "envs":
                out["env"] = _api_shape(value)
            elif key == "ports" and isinstance(value, dict):
                out["ports"] = [_api_shape(value)]
            else:
                out[key] = _api_shape(value)
        return out
    if isinstance(node, list):
        return [_api_shape(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)  # the engine sends numbers as floats; the API's int32 are integers
    return node


def deploy_as_declared(fake: FakeCloudRun, service_inputs: dict[str, Any]) -> None:
    """The service as `pulumi up` leaves it: the program's inputs from an `up`-shaped
    evaluation (mock digest, runtime account, secret version), in the Admin API's shape."""
    inputs = copy.deepcopy(service_inputs)
    template = _api_shape(inputs["template"])
    image = template["containers"][0]["image"]
    fake.add_service(SERVICE, labels=inputs.get("labels"), image=image)
    fake.deploy(SERVICE, image=image)
    fake.set_template(SERVICE, **template)
    fake.update_service(
        SERVICE, description=inputs["description"], ingress=inputs["ingress"], client="pulumi"
    )
