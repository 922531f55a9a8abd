"""Google credentials for pushing images, from google-auth (no gcloud needed)."""

from __future__ import annotations

import os

import pulumi

from infra.google.client import SCOPES

TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a value


class CredentialsError(pulumi.RunError):
    pass


def access_token() -> str:
    """An OAuth access token: $GOOGLE_OAUTH_ACCESS_TOKEN if set, else Application Default."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    import google.auth  # noqa: PLC0415 - only a real deploy needs it
    import google.auth.exceptions  # noqa: PLC0415
    import google.auth.transport.requests  # noqa: PLC0415

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise CredentialsError(
            "no Google credentials to push the image to Artifact Registry "
            f"({type(exc).__name__}). Fix: run `gcloud auth application-default login`, set "
            "GOOGLE_APPLICATION_CREDENTIALS, or authenticate the CI job with Workload Identity"
        ) from None
    return credentials.token


def registry_password() -> pulumi.Output[str]:
    """The token as a secret Output, for pulumi-docker's registry `password`."""
    return pulumi.Output.secret(access_token())
