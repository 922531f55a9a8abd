"""The FastAPI application: the service contract's endpoints."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from app.debate import run_debate
from app.metrics import MetricsMiddleware, create_metrics
from app.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="A token whose SHA-256 is in API_TOKEN_SHA256.")


class DebateRequest(BaseModel):
    topic: str = Field(min_length=1, max_length=200)
    rounds: int = Field(default=2, ge=1, le=3)
    turn_seconds: float = Field(default=0.2, ge=0, le=2)


def create_app(settings: Settings) -> FastAPI:
    started_at = datetime.now(UTC).replace(microsecond=0)
    started = time.monotonic()
    metrics = create_metrics(settings.service, settings.revision, settings.version)

    app = FastAPI(
        title="emergence-app",
        version=settings.version,
        description="Reference emergence-app: the service contract the deployment checks.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics, router=app.router)

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or not settings.token_is_valid(credentials.credentials):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Not authenticated",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/api/health", tags=["ops"])
    def health() -> dict[str, object]:
        """Liveness and identity: which service, revision and build answers."""
        return {
            "status": "healthy",
            "service": settings.service,
            "revision": settings.revision,
            "configuration": settings.configuration,
            "version": settings.version,
            "started_at": started_at.isoformat(),
            "uptime_seconds": round(time.monotonic() - started, 3),
            "email_enabled": settings.email_enabled,
        }

    @app.get("/api/metrics", tags=["ops"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.post("/api/debate", tags=["debate"], dependencies=[Depends(require_token)])
    async def debate(request: DebateRequest) -> dict[str, object]:
        """A debate between simulated agents (no model): it logs the events that the Phase 2
        report reads (app/debate.py). Needs a bearer token."""
        return await run_debate(
            request.topic, rounds=request.rounds, turn_seconds=request.turn_seconds
        )

    @app.get("/api/chat/sessions", tags=["chat"], dependencies=[Depends(require_token)])
    def chat_sessions() -> dict[str, list[dict[str, str]]]:
        """The caller's chat sessions (the reference app has none). Needs a bearer token."""
        return {"sessions": []}

    return app
