"""Prometheus metrics: request counts and latencies per route, plus the app's own counters.

Each app gets its own `CollectorRegistry`, so building the app twice (tests) never registers a
metric twice. Paths are labelled by their route template (`/api/items/{id}`), never the raw URL,
so a scan of random URLs cannot blow up the number of series.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.routing import Match, Router

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_progress: Gauge
    api_cost_usd: Counter

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def record_api_cost(self, usd: float) -> None:
        """Add an upstream API call's cost (LLM tokens, ...) to emergence_api_cost_usd_total."""
        self.api_cost_usd.inc(usd)


def create_metrics(service: str, revision: str, version: str) -> Metrics:
    # No `*_created` series: they double the output and no dashboard here reads them.
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    info = Gauge(
        "emergence_app_info",
        "Always 1; the labels say which build and revision is serving.",
        ("service", "revision", "version"),
        registry=registry,
    )
    info.labels(service=service, revision=revision, version=version).set(1)
    return Metrics(
        registry=registry,
        requests=Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "path", "status"),
            registry=registry,
        ),
        latency=Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by method and route template.",
            ("method", "path"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_progress=Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled now.",
            registry=registry,
        ),
        api_cost_usd=Counter(
            "emergence_api_cost_usd",
            "Cost in US dollars of the upstream API calls made by this instance.",
            registry=registry,
        ),
    )


def route_template(routes, scope) -> str:
    """The template of the route that fully matches `scope` (`/api/items/{id}`), else UNMATCHED."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", None) or UNMATCHED
    return UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app, metrics: Metrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router  # read at request time: routes may be added after the middleware

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_and_record(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        start = time.perf_counter()
        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.in_progress.dec()
            path = route_template(self.router.routes, scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, path, str(status["code"])).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - start)
