"""Deterministic generator of Cloud Run log exports in the real emergence-app's format.

    python tests/data/generate_realapp_logs.py            # rewrites the committed exports
    python tests/data/generate_realapp_logs.py --check    # fails if they are out of date
    python tests/data/generate_realapp_logs.py --entries 100000 --out big.json   # bench

The entries have the shape of a real Cloud Run export of emergence-app (DrKz36/emergencev8 at
e7b0d75), and the content is synthetic (made-up sessions, instances, costs):

- the app logs plain text with `logging.basicConfig(format="%(asctime)s %(levelname)s
  [%(name)s] %(message)s")` on stderr, and uvicorn its access lines on stdout, so every app
  entry is a `textPayload` with no `severity`; only the request log (`run.googleapis.com
  %2Frequests`) has an `httpRequest` and a severity;
- the MemoryAnalyzer's lines are its f-strings (start, cache HIT, success with neo_analysis or a
  fallback, failures with a traceback split line by line as Cloud Run splits stderr, cache SAVED,
  preference extraction, end); there is no duration in any line;
- one cost line per paid call from `backend.core.cost_tracker`: `Coût de 0.000210 pour 'anima'
  ('gpt-4o-mini') enregistré.`, for chat replies and debate turns only (memory analyses call
  the LLM too, but the app records no cost for them);
- debates log only `{"event": "debate_start", ...}`: no turn, no end;
- noise as in production: streamed `chunk_debug` lines, httpx calls, the monitoring
  middleware's JSON lines, uvicorn access lines, a staging copy of the service that logs the
  same lines, another resource type, an audit entry.

Layouts: "console" (what the console's "Download logs" writes: a JSON array, oldest first, keys
in the console's order) and "gcloud" (`gcloud logging read --format json`: newest first, keys
sorted).

Alongside each export: `<name>.truth.json`, what the simulation knows (every entry's category,
each analysis's true latency from its start line to its success line, each LLM call's duration
as the app's histogram observes it, the cache counters, the cost lines summed as integers of
micro-dollars, the debates started), and `<name>.metrics.txt`, the app's own Prometheus
metrics at the end of the window (written by prometheus_client with the app's definitions:
`memory_analysis_duration_seconds` with label provider and buckets 0.5 ... 30 s, the cache
counters). The tests compute the expected figures from the truth, never from the code under
test.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

try:
    from tests.data import generator_cli
except ModuleNotFoundError:  # run as a script: python tests/data/<this file>
    import generator_cli  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "phase2"
PROJECT = "emergence-469005"
SERVICE = "emergence-app"
REGION = "europe-west1"
BLOCK_US = 15 * 60 * 1_000_000
PROXY = "169.254.169.126"  # every request reaches the app from Cloud Run's front end
ANALYZER = "backend.features.memory.analyzer"
COST = "backend.core.cost_tracker"
CHAT = "backend.features.chat.service"
DEBATE = "backend.features.debate.service"
MONITORING = "backend.core.monitoring"
# USD per token, as the app's price table has them (chat/service.py at e7b0d75).
PRICES = {
    "gpt-4o-mini": (0.15e-6, 0.60e-6),
    "gpt-4o": (5.00e-6, 15.00e-6),
    "gemini-1.5-flash": (0.35e-6, 0.70e-6),
    "claude-3-5-haiku-20241022": (0.25e-6, 1.25e-6),
}
APP_BUCKETS = (0.5, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 30.0)
TOPICS = (
    "L'éthique de l'IA générative",
    "Énergie nucléaire : transition ou impasse ?",
    "Faut-il réguler les réseaux sociaux à l'école ?",
    "La mémoire des agents conversationnels",
)
WORDS = (" ouïe,", " pr", "ésent", " mé", "moire", " é", "té", " déjà", " là", ".")
PATHS = (
    ("GET", "/api/health", 200),
    ("GET", "/api/dashboard/costs/summary", 200),
    ("GET", "/api/threads", 200),
    ("GET", "/api/memory/user/stats", 200),
    ("POST", "/api/documents/upload", 413),
    ("GET", "/src/frontend/features/debate/debate.js", 200),
    ("GET", "/api/auth/session", 401),
    ("POST", "/api/chat/message", 500),
)


@dataclass
class Scenario:
    name: str
    seed: int
    start: datetime
    blocks: int
    layout: str  # "console" (oldest first) or "gcloud" (newest first, sorted keys)
    sessions_per_block: int
    chats_per_session: tuple[int, int]
    debates_per_block: float
    requests_per_block: int
    hit_probability: float
    llm_median_s: float
    llm_sigma: float
    fallback_probability: float
    failure_probability: float
    models: dict[str, str]  # chat agent -> model
    start_line: str = "current"  # "current": (persist=... | offline=...); "old": (persist=...)
    cache: bool = True  # the analyzer has a cache (HIT/SAVED lines, cache counters)
    lose_probability: float = 0.01  # an app line Cloud Run never received


SCENARIOS = {
    "realapp-after": Scenario(
        name="realapp-after",
        seed=20251012,
        start=datetime(2025, 10, 12, 8, 0, tzinfo=UTC),
        blocks=6,
        layout="console",
        sessions_per_block=8,
        chats_per_session=(1, 3),
        debates_per_block=0.75,
        requests_per_block=10,
        hit_probability=0.85,
        llm_median_s=1.15,
        llm_sigma=0.25,
        fallback_probability=0.03,
        failure_probability=0.01,
        models={"anima": "gpt-4o-mini", "neo": "gemini-1.5-flash", "nexus": "gpt-4o-mini"},
    ),
    "realapp-before": Scenario(
        name="realapp-before",
        seed=20251005,
        start=datetime(2025, 10, 5, 8, 0, tzinfo=UTC),
        blocks=6,
        layout="gcloud",
        sessions_per_block=10,
        chats_per_session=(1, 3),
        debates_per_block=1.0,
        requests_per_block=10,
        hit_probability=0.0,
        llm_median_s=4.6,
        llm_sigma=0.2,
        fallback_probability=0.06,
        failure_probability=0.02,
        models={
            "anima": "claude-3-5-haiku-20241022",
            "neo": "gemini-1.5-flash",
            "nexus": "claude-3-5-haiku-20241022",
        },
        start_line="old",
        cache=False,
    ),
}


@dataclass
class Truth:
    """What the simulation knows about the service's entries (for the tests' expectations)."""

    read: int = 0
    other_service: int = 0
    other_resource: int = 0
    recognised: int = 0
    hits: int = 0
    saved: int = 0
    misses: int = 0  # the app's memory_analysis_cache_misses_total
    requested: int = 0  # start lines written (analyses requested)
    succeeded: int = 0
    failed: int = 0
    analyses: list[dict] = field(default_factory=list)  # measurable: start line -> success
    llm_calls: dict[str, list[float]] = field(default_factory=dict)  # provider -> durations
    costs: dict[str, list[int]] = field(default_factory=dict)  # "agent|model" -> [calls, µUSD]
    debates_started: int = 0

    def to_dict(self, scenario: Scenario) -> dict:
        return {
            "scenario": scenario.name,
            "service": SERVICE,
            "seed": scenario.seed,
            "window": {
                "start": scenario.start.isoformat().replace("+00:00", "Z"),
                "blocks_of_15_min": scenario.blocks,
            },
            "entries": {
                "read": self.read,
                "other_service": self.other_service,
                "other_resource": self.other_resource,
                "recognised": self.recognised,
            },
            "cache": {"hits": self.hits, "saved": self.saved, "misses": self.misses},
            "analyses": {
                "requested": self.requested,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "measurable": self.analyses,
            },
            "llm_calls": self.llm_calls,
            "costs": {k: {"calls": c, "micro_usd": u} for k, (c, u) in sorted(self.costs.items())},
            "debates_started": self.debates_started,
        }


def rfc3339(us: int, nanos: str = "") -> str:
    seconds, micros = divmod(us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}{nanos}Z"


def asctime(us: int) -> str:
    """logging's `%(asctime)s`: `2025-10-10 02:12:28,973` (UTC on Cloud Run)."""
    seconds, micros = divmod(us, 1_000_000)
    return (
        datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
        + f",{micros // 1000:03d}"
    )


class Simulator:
    def __init__(self, scenario: Scenario, truth: Truth | None) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.truth = truth
        self.revision = f"{SERVICE}-{self.hex(5)}-{self.word()}"
        self.instances = ["00" + self.hex(60) for _ in range(2)]

    # -- helpers --

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def word(self) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))

    def session_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def lognormal_us(self, median_s: float, sigma: float) -> int:
        return int(median_s * math.exp(self.rng.gauss(0.0, sigma)) * 1_000_000)

    def resource(self, service: str) -> dict:
        return {
            "type": "cloud_run_revision",
            "labels": {
                "project_id": PROJECT,
                "location": REGION,
                "service_name": service,
                "configuration_name": service,
                "revision_name": self.revision.replace(SERVICE, service, 1),
            },
        }

    def text(self, us: int, text: str, service: str = SERVICE, stream: str = "stderr") -> dict:
        """One line of the app's output, as Cloud Run stores it (the console's key order)."""
        if service != SERVICE and self.truth is not None:
            self.truth.other_service += 1
        return {
            "textPayload": text,
            "insertId": self.hex(24),
            "resource": self.resource(service),
            "timestamp": rfc3339(us),
            "labels": {"instanceId": self.rng.choice(self.instances)},
            "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2F{stream}",
            "receiveTimestamp": rfc3339(
                us + self.rng.randrange(8_000, 60_000), f"{self.rng.randrange(1000):03d}"
            ),
        }

    def log(self, us: int, logger: str, message: str, level: str = "INFO", **kw) -> dict:
        return self.text(us, f"{asctime(us)} {level} [{logger}] {message}", **kw)

    def phase2(self, us: int, logger: str, message: str, service: str, level="INFO") -> list:
        """A line the report recognises; [] when Cloud Run lost it (then it does not count)."""
        if self.rng.random() < self.s.lose_probability:
            return []
        if service == SERVICE and self.truth is not None:
            self.truth.recognised += 1
        return [self.log(us, logger, message, level, service=service)]

    # -- the app's work --

    def cost_line(self, us: int, agent: str, model: str, service: str) -> list[dict]:
        pin, pout = PRICES[model]
        tokens_in = self.rng.randrange(600, 4000)
        tokens_out = self.rng.randrange(80, 700)
        amount = f"{tokens_in * pin + tokens_out * pout:.6f}"
        lines = self.phase2(
            us, COST, f"Coût de {amount} pour '{agent}' ('{model}') enregistré.", service
        )
        if lines and service == SERVICE and self.truth is not None:
            slot = self.truth.costs.setdefault(f"{agent}|{model}", [0, 0])
            slot[0] += 1
            slot[1] += int(amount.replace(".", ""))
        return lines

    def chat_turn(self, us: int, sid: str, service: str) -> Iterator[dict]:
        agent = self.rng.choice(sorted(self.s.models))
        model = self.s.models[agent]
        for _ in range(self.rng.randrange(1, 4)):
            piece = self.rng.choice(WORDS)
            us += self.rng.randrange(20_000, 90_000)
            yield self.log(
                us, CHAT, f"chunk_debug primary raw={piece!r} delta={piece!r}", service=service
            )
        us += self.rng.randrange(5_000, 40_000)
        yield from self.cost_line(us, agent, model, service)

    def analysis(self, sid: str, us: int, first: bool, service: str) -> Iterator[dict]:  # noqa: PLR0912
        s, rng, truth = self.s, self.rng, self.truth if service == SERVICE else None
        persist = rng.random() < 0.9
        if s.start_line == "current":
            start = (
                f"Lancement de l'analyse sémantique (persist={persist} | offline=False) pour {sid}"
            )
        else:
            start = f"Lancement de l'analyse sémantique (persist={persist}) pour {sid}"
        start_lines = self.phase2(us, ANALYZER, start, service)
        yield from start_lines
        if truth is not None and start_lines:
            truth.requested += 1
        if persist and not first and rng.random() < 0.04:
            yield from self.phase2(
                us + rng.randrange(300, 2000),
                ANALYZER,
                f"Session {sid} déjà analysée — skip.",
                service,
            )
            return
        if s.cache and persist and not first and rng.random() < s.hit_probability:
            lines = self.phase2(
                us + rng.randrange(400, 5000),
                ANALYZER,
                f"[MemoryAnalyzer] Cache HIT pour session {sid} (hash={self.hex(8)})",
                service,
            )
            yield from lines
            if truth is not None and lines:
                truth.hits += 1
            return
        if truth is not None and s.cache and persist:
            truth.misses += 1  # counted by the app before the LLM call, whatever its outcome
        now = us + rng.randrange(2_000, 25_000)  # the cache check, the prompt: the call starts
        roll = rng.random()
        provider = "neo_analysis"
        if roll < s.failure_probability + s.fallback_probability:
            now += rng.randrange(700_000, 3_000_000)
            yield self.log(
                now,
                ANALYZER,
                f"[MemoryAnalyzer] Analyse neo_analysis échouée (TimeoutError) pour session "
                f"{sid} — fallback Nexus",
                "WARNING",
                service=service,
            )
            for line in (
                "Traceback (most recent call last):",
                '  File "/app/src/backend/features/memory/analyzer.py", line 404, in _analyze',
                "    analysis_result = await asyncio.wait_for(",
                "TimeoutError",
            ):
                yield self.text(now + 1, line, service=service)
            provider = "nexus"
            if roll < s.failure_probability:
                now += rng.randrange(2_000_000, 20_000_000)
                yield self.log(
                    now,
                    ANALYZER,
                    "[MemoryAnalyzer] Fallback Nexus échoué (RateLimitError) — tentative Anima",
                    "WARNING",
                    service=service,
                )
                now += rng.randrange(2_000_000, 20_000_000)
                lines = self.phase2(
                    now,
                    ANALYZER,
                    f"[MemoryAnalyzer] Tous fallbacks échoués pour session {sid}: "
                    "Limite de requêtes atteinte",
                    service,
                    "ERROR",
                )
                yield from lines
                if truth is not None and lines:
                    truth.failed += 1
                return
        call_start = now
        call = self.lognormal_us(
            s.llm_median_s * (1.6 if provider == "nexus" else 1.0), s.llm_sigma
        )
        now = call_start + call
        yield self.log(
            now - 3_000,
            "httpx",
            'HTTP Request: POST https://api.openai.com/v1/chat/completions "HTTP/1.1 200 OK"',
            service=service,
        )
        success = (
            f"[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session {sid}"
            if provider == "neo_analysis"
            else f"[MemoryAnalyzer] Fallback Nexus réussi pour session {sid}"
        )
        lines = self.phase2(now, ANALYZER, success, service)
        yield from lines
        if truth is not None:
            truth.llm_calls.setdefault(provider, []).append(call / 1_000_000)
            if lines:
                truth.succeeded += 1
                if start_lines:
                    truth.analyses.append({"session": sid, "latency": (now - us) / 1_000_000})
        if s.cache and persist:
            now += rng.randrange(20_000, 400_000)
            lines = self.phase2(
                now,
                ANALYZER,
                f"[MemoryAnalyzer] Cache SAVED pour session {sid} "
                f"(key=memory_analysis:{sid}:{self.hex(8)})",
                service,
            )
            yield from lines
            if truth is not None and lines:
                truth.saved += 1
        now += rng.randrange(20_000, 200_000)
        yield self.log(
            now,
            ANALYZER,
            f"[PreferenceExtractor] Extracted {rng.randrange(0, 6)} preferences/intents for "
            f"session {sid} (user_sub=None, user_id={self.hex(12)})",
            service=service,
        )
        now += rng.randrange(5_000, 50_000)
        yield from self.phase2(
            now,
            ANALYZER,
            f"Analyse sémantique terminée (persist={persist}, provider={provider}) pour {sid}.",
            service,
        )

    def debate(self, us: int, service: str) -> Iterator[dict]:
        agents = ["anima", "neo", "nexus"]
        self.rng.shuffle(agents)
        event = {
            "event": "debate_start",
            "session_id": self.session_id(),
            "topic": self.rng.choice(TOPICS),
            "rounds": 2,
            "agent_order": agents,
            "use_rag": self.rng.random() < 0.5,
        }
        lines = self.phase2(us, DEBATE, json.dumps(event, ensure_ascii=False), service)
        yield from lines
        if lines and service == SERVICE and self.truth is not None:
            self.truth.debates_started += 1
        now = us
        for _round in range(2):
            for agent in agents[:2]:  # attacker then challenger: turns go out on WebSockets only
                now += self.lognormal_us(2.4, 0.2)
                yield from self.cost_line(now, agent, self.s.models[agent], service)
        now += self.lognormal_us(2.8, 0.2)
        yield from self.cost_line(now, agents[2], self.s.models[agents[2]], service)

    def request(self, us: int) -> Iterator[dict]:
        rng = self.rng
        method, path, status = rng.choice(PATHS)
        took = rng.randrange(2_000, 900_000)
        base = json.dumps
        yield self.log(
            us,
            MONITORING,
            base(
                {
                    "timestamp": rfc3339(us)[:-1] + "+00:00",
                    "level": "INFO",
                    "message": f"Incoming request: {method} {path}",
                    "method": method,
                    "endpoint": path,
                    "client_ip": PROXY,
                }
            ),
        )
        yield self.log(
            us + took,
            MONITORING,
            base(
                {
                    "timestamp": rfc3339(us + took)[:-1] + "+00:00",
                    "level": "INFO",
                    "message": f"Request completed: {method} {path}",
                    "method": method,
                    "endpoint": path,
                    "status_code": status,
                    "duration_ms": round(took / 1000, 2),
                }
            ),
        )
        phrase = {
            200: "OK",
            401: "Unauthorized",
            413: "Request Entity Too Large",
            500: "Internal Server Error",
        }[status]
        yield self.text(
            us + took + 200,
            f'INFO:     {PROXY}:{rng.randrange(20000, 60000)} - "{method} {path} HTTP/1.1" '
            f"{status} {phrase}",
            stream="stdout",
        )
        yield {
            "insertId": self.hex(12),
            "httpRequest": {
                "requestMethod": method,
                "requestUrl": f"https://{SERVICE}-486095406755.{REGION}.run.app{path}",
                "requestSize": str(rng.randrange(300, 3000)),
                "status": status,
                "responseSize": str(rng.randrange(90, 40000)),
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                "remoteIp": f"203.0.113.{rng.randrange(1, 255)}",
                "referer": f"https://{SERVICE}-486095406755.{REGION}.run.app/",
                "serverIp": "192.0.2.10",
                "latency": f"{took / 1e6:.9f}s",
                "protocol": "HTTP/1.1",
            },
            "resource": self.resource(SERVICE),
            "timestamp": rfc3339(us),
            "severity": "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO",
            "labels": {"instanceId": rng.choice(self.instances)},
            "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
            "trace": f"projects/{PROJECT}/traces/{self.hex(32)}",
            "receiveTimestamp": rfc3339(us + took + rng.randrange(10_000, 90_000), "123"),
            "spanId": self.hex(16),
        }

    def others(self, us: int) -> Iterator[dict]:
        """Entries of other resources (a Cloud Run job, an audit log)."""
        if self.truth is not None:
            self.truth.other_resource += 2
        job = self.text(us, "Job de réindexation terminé : 1 245 documents")
        job["resource"] = {
            "type": "cloud_run_job",
            "labels": {"job_name": "emergence-reindex", "location": REGION, "project_id": PROJECT},
        }
        yield job
        yield {
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "methodName": "google.cloud.run.v2.Services.GetService",
                "serviceName": "run.googleapis.com",
            },
            "insertId": self.hex(12),
            "resource": {
                "type": "audited_resource",
                "labels": {
                    "project_id": PROJECT,
                    "service": "run.googleapis.com",
                    "method": "google.cloud.run.v2.Services.GetService",
                },
            },
            "timestamp": rfc3339(us + 5),
            "severity": "NOTICE",
            "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Fdata_access",
            "receiveTimestamp": rfc3339(us + 90_000, "000"),
        }

    def block(self, block_start: int) -> list[dict]:
        s, rng = self.s, self.rng
        out: list[dict] = []
        for service, sessions in ((SERVICE, s.sessions_per_block), (f"{SERVICE}-staging", 1)):
            for _ in range(sessions):
                sid = self.session_id()
                us = block_start + rng.randrange(0, 5 * 60 * 1_000_000)
                for index in range(rng.choice((1, 2, 3, 3))):
                    for _ in range(rng.randrange(*s.chats_per_session) + 1):
                        out.extend(self.chat_turn(us, sid, service))
                        us += rng.randrange(5, 40) * 1_000_000
                    out.extend(self.analysis(sid, us, index == 0, service))
                    us += rng.randrange(190, 300) * 1_000_000
                    if us > block_start + BLOCK_US - 90 * 1_000_000:
                        break
        debates = int(s.debates_per_block) + (rng.random() < s.debates_per_block % 1)
        for _ in range(debates):
            out.extend(
                self.debate(block_start + rng.randrange(0, BLOCK_US - 60 * 1_000_000), SERVICE)
            )
        for _ in range(s.requests_per_block):
            out.extend(self.request(block_start + rng.randrange(BLOCK_US - 2_000_000)))
        out.extend(self.others(block_start + rng.randrange(BLOCK_US)))
        return out


def _key(entry: dict) -> str:
    return entry["timestamp"]


def generate(scenario: Scenario, truth: Truth | None = None) -> Iterator[dict]:
    """Yields the entries in the layout's order; `truth`, when given, is filled in."""
    sim = Simulator(scenario, truth)
    start_us = int(scenario.start.timestamp()) * 1_000_000
    newest_first = scenario.layout == "gcloud"
    blocks = range(scenario.blocks)
    for index in reversed(blocks) if newest_first else blocks:
        entries = sim.block(start_us + index * BLOCK_US)
        entries.sort(key=_key, reverse=newest_first)
        for entry in entries:
            if truth is not None:
                truth.read += 1
            yield dict(sorted(entry.items())) if newest_first else entry


def metrics_text(scenario: Scenario, truth: Truth) -> str:
    """The app's own metrics at the end of the window (one instance, started at its start)."""
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )

    registry = CollectorRegistry()
    duration = Histogram(
        "memory_analysis_duration_seconds",
        "Durée des analyses mémoire",
        ["provider"],
        buckets=list(APP_BUCKETS),
        registry=registry,
    )
    success = Counter(
        "memory_analysis_success_total",
        "Nombre total d'analyses réussies",
        ["provider"],
        registry=registry,
    )
    for provider, values in sorted(truth.llm_calls.items()):
        for value in values:
            duration.labels(provider=provider).observe(value)
            success.labels(provider=provider).inc()
    if scenario.cache:  # before Phase 2 the analyzer had no cache, nor its counters
        hits = Counter(
            "memory_analysis_cache_hits_total", "Nombre total de cache hits", registry=registry
        )
        misses = Counter(
            "memory_analysis_cache_misses_total", "Nombre total de cache misses", registry=registry
        )
        size = Gauge(
            "memory_analysis_cache_size", "Taille actuelle du cache in-memory", registry=registry
        )
        hits.inc(truth.hits)
        misses.inc(truth.misses)
        size.set(min(100, truth.saved))
    text = generate_latest(registry).decode()
    created = f"{scenario.start.timestamp():.9e}"
    return re.sub(r"^(\S+_created(?:\{[^}]*\})?) \S+$", rf"\1 {created}", text, flags=re.MULTILINE)


def write(scenario: Scenario, path: Path, with_truth: bool = True) -> Truth | None:
    """Writes the export (and `<name>.truth.json`, `<name>.metrics.txt`); returns the truth."""
    truth = Truth() if with_truth else None
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("[\n")
        first = True
        for item in generate(scenario, truth):
            text = json.dumps(item, indent=2, ensure_ascii=False)
            out.write(("" if first else ",\n") + "  " + text.replace("\n", "\n  "))
            first = False
        out.write("\n]\n")
    if truth is not None:
        stem = path.name.split(".")[0]
        path.with_name(stem + ".truth.json").write_text(
            json.dumps(truth.to_dict(scenario), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        path.with_name(stem + ".metrics.txt").write_text(
            metrics_text(scenario, truth), encoding="utf-8"
        )
    return truth


def committed_files() -> dict[str, Path]:
    return {name: OUT_DIR / f"{name}.json" for name in SCENARIOS}


def bench_scenario(entries: int, layout: str = "console") -> Scenario:
    base = SCENARIOS["realapp-after"]
    per_block = 265  # entries per 15-minute block of this scenario (measured)
    return Scenario(
        **{
            **base.__dict__,
            "name": f"bench-{entries}",
            "seed": 1_000_033,
            "blocks": max(1, math.ceil(entries / per_block)),
            "layout": layout,
        }
    )


def main(argv: list[str] | None = None) -> int:
    return generator_cli.run(
        argv,
        description=__doc__.split("\n\n")[0],
        layouts=("console", "gcloud"),
        out_dir=OUT_DIR,
        committed=committed_files(),
        scenarios=SCENARIOS,
        write=write,
        bench_scenario=bench_scenario,
        written=lambda path: [
            path.with_name(path.name.split(".")[0] + suffix)
            for suffix in (".json", ".truth.json", ".metrics.txt")
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
