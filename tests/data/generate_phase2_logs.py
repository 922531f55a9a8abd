"""Deterministic generator of realistic Cloud Run log exports for the Phase 2 report.

    python tests/data/generate_phase2_logs.py            # rewrites the committed exports
    python tests/data/generate_phase2_logs.py --check    # fails if they are out of date
    python tests/data/generate_phase2_logs.py --entries 1000000 --out big.json   # bench

It simulates emergence-app's traffic block by block (15 minutes each): memory analyses with
the MemoryAnalyzer's real log lines (start, cache HIT/SAVED, neo_analysis or fallback success,
failures, early ends), debates with JSON events, request logs, other French messages, other
services (a staging copy of the app logs the same Phase 2 lines), other resource types,
entries with missing fields, and damage (a lost line, a missing timestamp, plain-text
payloads). Entries are written newest first with local disorder, like `gcloud logging read`,
or oldest first as JSON lines.

Alongside each export it writes `<name>.truth.json`: what the simulation knows happened (the
true latency of every measurable analysis, the true spans of every debate, the true counts).
The tests compute the expected figures from that truth, never from the code under test.
"""

from __future__ import annotations

import json
import math
import random
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
AGENTS = ("neo", "nexus", "anima")
TOPICS = (
    "L'éthique de l'IA générative",
    "Énergie nucléaire : transition ou impasse ?",
    "Faut-il réguler les réseaux sociaux à l'école ?",
    "Télétravail et productivité : où en est-on ?",
    "La mémoire des agents conversationnels",
    "Écologie urbaine et mobilité douce",
)
CHATTER = (
    "Connexion WebSocket établie pour la session {sid}",
    "Requête /api/chat/sessions refusée : jeton d'accès absent ou expiré",
    "[VectorService] Requête ChromaDB terminée en {ms} ms (collection emergence_knowledge)",
    "[ChatService] Réponse générée par {agent} en {ms} ms — coût estimé 0,00{ms} $",
    "[MemoryAnalyzer] Cache éviction: {n} entrées supprimées (cache size: 50)",
    "[PreferenceExtractor] Extracted {n} preferences/intents for session {sid}",
    "Débat debate_{hex} créé sur le sujet : '{topic}'. RAG activé: True",
    "Génération de la synthèse pour le débat debate_{hex}...",
    "Session {sid} : mise à jour des métadonnées (résumé, concepts, entités)",
    "[Auth] Utilisateur authentifié : élodie.martin@example.com (rôle=membre)",
)


@dataclass
class Scenario:
    name: str
    seed: int
    start: datetime
    blocks: int
    layout: str  # "gcloud" (JSON array, newest first) or "jsonl" (oldest first)
    sessions_per_block: int
    debates_per_block: float
    requests_per_block: int
    chatter_per_block: int
    hit_probability: float
    latency_median_s: float
    latency_sigma: float
    fallback_probability: float
    failure_probability: float
    overlap_probability: float
    round1_agent_median_s: float
    later_turn_median_s: float
    damage: bool = True
    corrupt_lines: int = 0


SCENARIOS = {
    "after-gcloud": Scenario(
        name="after-gcloud",
        seed=20251009,
        start=datetime(2025, 10, 9, 8, 0, tzinfo=UTC),
        blocks=10,
        layout="gcloud",
        sessions_per_block=14,
        debates_per_block=1.2,
        requests_per_block=70,
        chatter_per_block=40,
        hit_probability=0.7,
        latency_median_s=1.1,
        latency_sigma=0.22,
        fallback_probability=0.015,
        failure_probability=0.01,
        overlap_probability=1.0,
        round1_agent_median_s=2.4,
        later_turn_median_s=1.9,
    ),
    "before": Scenario(
        name="before",
        seed=20251007,
        start=datetime(2025, 10, 7, 14, 0, tzinfo=UTC),
        blocks=6,
        layout="jsonl",
        sessions_per_block=14,
        debates_per_block=1.0,
        requests_per_block=70,
        chatter_per_block=35,
        hit_probability=0.0,
        latency_median_s=4.8,
        latency_sigma=0.2,
        fallback_probability=0.08,
        failure_probability=0.02,
        overlap_probability=0.0,
        round1_agent_median_s=2.5,
        later_turn_median_s=2.6,
        corrupt_lines=9,
    ),
}


@dataclass
class Truth:
    """What the simulation knows about the target service (for the tests' expected figures)."""

    read: int = 0
    malformed: int = 0
    other_service: int = 0
    other_resource: int = 0
    without_message: int = 0
    recognised: int = 0
    hits: int = 0
    saved: int = 0
    succeeded: int = 0
    failed: int = 0
    analyses: list[dict] = field(default_factory=list)
    debates: list[dict] = field(default_factory=list)

    def to_dict(self, scenario: Scenario) -> dict:
        return {
            "scenario": scenario.name,
            "service": SERVICE,
            "seed": scenario.seed,
            "entries": {
                "read": self.read,
                "malformed": self.malformed,
                "other_service": self.other_service,
                "other_resource": self.other_resource,
                "without_message": self.without_message,
                "recognised": self.recognised,
            },
            "cache": {"hits": self.hits, "saved": self.saved},
            "analyses": {
                "succeeded": self.succeeded,
                "failed": self.failed,
                "measurable": self.analyses,
            },
            "debates": self.debates,
        }


def rfc3339(us: int, rng: random.Random) -> str:
    """Cloud Logging's form: nanoseconds and a Z (the last 3 digits are below a microsecond)."""
    seconds, micros = divmod(us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}{rng.randrange(1000):03d}Z"


class Simulator:
    def __init__(self, scenario: Scenario, truth: Truth | None) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.truth = truth
        self.revision = f"{SERVICE}-00042-xiz"
        self.instances = ["00f46b92" + self.hex(56) for _ in range(3)]

    # -- small helpers --

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def session_id(self) -> str:
        if self.rng.random() < 0.8:
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return f"thread_{self.hex(12)}"

    def lognormal_us(self, median_s: float, sigma: float) -> int:
        return int(median_s * math.exp(self.rng.gauss(0.0, sigma)) * 1_000_000)

    def resource(self, service: str = SERVICE) -> dict:
        return {
            "labels": {
                "configuration_name": service,
                "location": REGION,
                "project_id": PROJECT,
                "revision_name": self.revision.replace(SERVICE, service, 1),
                "service_name": service,
            },
            "type": "cloud_run_revision",
        }

    def entry(
        self,
        us: int,
        *,
        message: str | None = None,
        payload: dict | None = None,
        service: str = SERVICE,
        severity: str = "INFO",
        logger: str = "backend.main",
    ) -> dict:
        """A stdout entry as Cloud Run records it (keys sorted, as gcloud prints them)."""
        body = dict(payload) if payload is not None else {}
        if message is not None:
            body["message"] = message
        body.setdefault("logger", logger)
        if service != SERVICE and self.truth is not None:
            self.truth.other_service += 1
        return {
            "insertId": self.hex(24),
            "jsonPayload": body,
            "labels": {"instanceId": self.rng.choice(self.instances)},
            "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
            "receiveTimestamp": rfc3339(us + self.rng.randrange(40_000, 900_000), self.rng),
            "resource": self.resource(service),
            "severity": severity,
            "timestamp": rfc3339(us, self.rng),
        }

    # -- Phase 2 lines of the target service, with damage and truth --

    def phase2_line(
        self, us: int, message: str, kind: str, service: str
    ) -> tuple[dict, int | None]:
        """Returns the entry and its effective time (None: undated), recording the truth."""
        entry = self.entry(us, message=message, service=service, logger=_ANALYZER)
        effective: int | None = us
        roll = self.rng.random() if self.s.damage else 1.0
        if roll < 0.015:
            # timestamp lost: the reader falls back to receiveTimestamp
            del entry["timestamp"]
            effective = _parse_us(entry["receiveTimestamp"])
        elif roll < 0.022:
            del entry["timestamp"]
            del entry["receiveTimestamp"]
            effective = None
        elif roll < 0.05:
            # an older revision logging plain text
            del entry["jsonPayload"]
            entry["textPayload"] = f"INFO:{_ANALYZER}:{message}"
        if service == SERVICE and self.truth is not None:
            self.truth.recognised += 1
            if kind == "hit":
                self.truth.hits += 1
            elif kind == "saved":
                self.truth.saved += 1
            elif kind == "success" and effective is not None:
                self.truth.succeeded += 1
            elif kind == "failed" and effective is not None:
                self.truth.failed += 1
        return entry, effective

    def analysis(  # noqa: PLR0912 (one analysis's branches, as the app takes them)
        self, sid: str, us: int, first: bool, service: str
    ) -> Iterator[dict]:
        s, rng = self.s, self.rng
        persist = rng.random() < 0.9
        if rng.random() < 0.85:
            start_msg = (
                f"Lancement de l'analyse sémantique (persist={persist} | offline=False) pour {sid}"
            )
        else:
            start_msg = f"[MemoryAnalyzer] Analyse démarrée pour session {sid}"
        lose_start = s.damage and rng.random() < 0.02
        start_eff: int | None = None
        if not lose_start:
            entry, start_eff = self.phase2_line(us, start_msg, "start", service)
            yield entry

        if persist and not first and rng.random() < 0.04:
            entry, _ = self.phase2_line(
                us + rng.randrange(200, 2000),
                f"Session {sid} déjà analysée — skip.",
                "ended",
                service,
            )
            yield entry
            return
        if persist and not first and rng.random() < s.hit_probability:
            entry, _ = self.phase2_line(
                us + rng.randrange(300, 4000),
                f"[MemoryAnalyzer] Cache HIT pour session {sid} (hash={self.hex(8)})",
                "hit",
                service,
            )
            yield entry
            return

        roll = rng.random()
        if roll < s.failure_probability:
            latency = rng.randrange(30_000_000, 62_000_000)
            yield self.entry(
                us + 30_000_000,
                message=f"[MemoryAnalyzer] Analyse neo_analysis échouée (TimeoutError) pour "
                f"session {sid} — fallback Nexus",
                service=service,
                severity="WARNING",
                logger=_ANALYZER,
            )
            entry, _ = self.phase2_line(
                us + latency,
                f"[MemoryAnalyzer] Tous fallbacks échoués pour session {sid}: "
                "RateLimitError('Limite de requêtes atteinte')",
                "failed",
                service,
            )
            entry["severity"] = "ERROR"
            yield entry
            return
        if roll < s.failure_probability + s.fallback_probability:
            neo_fail = rng.randrange(800_000, 3_000_000)
            latency = neo_fail + self.lognormal_us(2.2, 0.25)
            provider = "nexus" if rng.random() < 0.8 else "anima"
            yield self.entry(
                us + neo_fail,
                message=f"[MemoryAnalyzer] Analyse neo_analysis échouée (ValueError) pour "
                f"session {sid} — fallback Nexus",
                service=service,
                severity="WARNING",
                logger=_ANALYZER,
            )
            success_msg = (
                f"[MemoryAnalyzer] Fallback {provider.capitalize()} réussi pour session {sid}"
            )
        else:
            latency = self.lognormal_us(s.latency_median_s, s.latency_sigma)
            provider = "neo_analysis"
            success_msg = f"[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session {sid}"
        carried: float | None = None
        if rng.random() < 0.25:
            carried = round(latency / 1_000_000, 2)
            success_msg += f" (durée={carried:.2f}s)"
        end_us = us + latency
        entry, end_eff = self.phase2_line(end_us, success_msg, "success", service)
        yield entry
        if service == SERVICE and self.truth is not None:
            # The report's rule: start line to success line; failing a usable start, the
            # duration the success line carries; else nothing.
            measured: float | None = None
            if end_eff is not None:
                if start_eff is not None and end_eff >= start_eff:
                    measured = (end_eff - start_eff) / 1_000_000
                elif carried is not None:
                    measured = carried
            if measured is not None:
                self.truth.analyses.append({"session": sid, "latency": measured})
        if persist:
            entry, _ = self.phase2_line(
                end_us + rng.randrange(500, 5000),
                f"[MemoryAnalyzer] Cache SAVED pour session {sid} "
                f"(key=memory_analysis:{sid}:{self.hex(8)})",
                "saved",
                service,
            )
            yield entry
        entry, _ = self.phase2_line(
            end_us + rng.randrange(6000, 25000),
            f"Analyse sémantique terminée (persist={persist}, provider={provider}) pour {sid}.",
            "finished",
            service,
        )
        yield entry

    def debate_event(self, us: int, event: dict, service: str) -> dict:
        if self.rng.random() < 0.3:
            payload = {**event}
            entry = self.entry(
                us, message=event["event"], payload=payload, service=service, logger=_DEBATE
            )
        else:
            entry = self.entry(
                us, message=json.dumps(event, ensure_ascii=False), service=service, logger=_DEBATE
            )
        if service == SERVICE and self.truth is not None:
            self.truth.recognised += 1
        return entry

    def debate(self, us: int, service: str) -> Iterator[dict]:
        s, rng = self.s, self.rng
        did = f"debate_{self.hex(8)}"
        order = list(AGENTS)
        rng.shuffle(order)
        attacker, challenger, mediator = order
        yield self.debate_event(
            us,
            {
                "event": "debate_start",
                "debate_id": did,
                "session_id": self.session_id(),
                "topic": rng.choice(TOPICS),
                "rounds": 2,
                "agent_order": order,
                "use_rag": rng.random() < 0.5,
            },
            service,
        )
        a_start = us + rng.randrange(20_000, 80_000)
        a_dur = self.lognormal_us(s.round1_agent_median_s, 0.15)
        c_dur = self.lognormal_us(s.round1_agent_median_s, 0.15)
        if rng.random() < s.overlap_probability:
            c_start = a_start + rng.randrange(200, 3000)
        else:
            c_start = a_start + a_dur + rng.randrange(5_000, 30_000)
        a_end, c_end = a_start + a_dur, c_start + c_dur
        lose_attacker_start = s.damage and rng.random() < 0.08
        spans = {"attacker": [a_start, a_end], "challenger": [c_start, c_end]}
        for role, agent, start, end in (
            ("attacker", attacker, a_start, a_end),
            ("challenger", challenger, c_start, c_end),
        ):
            base = {"debate_id": did, "round": 1, "role": role, "agent": agent}
            if not (role == "attacker" and lose_attacker_start):
                yield self.debate_event(start, {"event": "debate_agent_start", **base}, service)
            duration_ms = round((end - start) / 1000)
            if role == "attacker" and lose_attacker_start:
                spans["attacker"][0] = end - duration_ms * 1000
            yield self.debate_event(
                end,
                {
                    "event": "debate_agent_end",
                    **base,
                    "duration_ms": duration_ms,
                    "ok": True,
                    "chars": rng.randrange(400, 1400),
                },
                service,
            )
        now = max(a_end, c_end)
        failed = rng.random() < 0.06
        if not failed:
            for role, agent in (("attacker", attacker), ("challenger", challenger)):
                start = now + rng.randrange(5_000, 40_000)
                end = start + self.lognormal_us(s.later_turn_median_s, 0.2)
                base = {"debate_id": did, "round": 2, "role": role, "agent": agent}
                yield self.debate_event(start, {"event": "debate_agent_start", **base}, service)
                yield self.debate_event(
                    end,
                    {"event": "debate_agent_end", **base, "duration_ms": (end - start) // 1000},
                    service,
                )
                now = end
            start = now + rng.randrange(5_000, 40_000)
            end = start + self.lognormal_us(s.later_turn_median_s * 1.2, 0.2)
            base = {"debate_id": did, "phase": "synthesis", "role": "mediator", "agent": mediator}
            yield self.debate_event(start, {"event": "debate_agent_start", **base}, service)
            yield self.debate_event(
                end,
                {"event": "debate_agent_end", **base, "duration_ms": (end - start) // 1000},
                service,
            )
            now = end
        finish = now + rng.randrange(2_000, 20_000)
        status = "failed" if failed else "completed"
        yield self.debate_event(
            finish,
            {"event": "debate_end", "debate_id": did, "status": status, "rounds_done": 2 - failed},
            service,
        )
        if service == SERVICE and self.truth is not None:
            a, c = spans["attacker"], spans["challenger"]
            self.truth.debates.append(
                {
                    "debate_id": did,
                    "round1": (max(a[1], c[1]) - min(a[0], c[0])) / 1_000_000,
                    "overlap": max(a[0], c[0]) < min(a[1], c[1]),
                    "total": None if failed else (finish - us) / 1_000_000,
                }
            )

    # -- noise --

    def request_log(self, us: int, service: str = SERVICE) -> dict:
        rng = self.rng
        path, status = rng.choice(
            [
                ("/api/health", 200),
                ("/api/health", 200),
                ("/api/chat/sessions", 401),
                ("/api/chat/sessions", 200),
                ("/api/memory/analyze", 200),
                ("/api/debate", 200),
                ("/api/metrics", 200),
                ("/docs", 200),
                ("/api/chat/sessions", 500),
                ("/api/documents/upload", 413),
            ]
        )
        if service != SERVICE and self.truth is not None:
            self.truth.other_service += 1
        return {
            "httpRequest": {
                "latency": f"{rng.randrange(2, 4000) / 1000:.6f}s",
                "protocol": "HTTP/1.1",
                "remoteIp": f"203.0.113.{rng.randrange(1, 255)}",
                "requestMethod": "POST" if "analyze" in path or "debate" in path else "GET",
                "requestSize": str(rng.randrange(200, 4000)),
                "requestUrl": f"https://{service}-486095406755.{REGION}.run.app{path}",
                "responseSize": str(rng.randrange(90, 60000)),
                "serverIp": "192.0.2.10",
                "status": status,
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            },
            "insertId": self.hex(12),
            "labels": {"instanceId": rng.choice(self.instances)},
            "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
            "receiveTimestamp": rfc3339(us + rng.randrange(10_000, 300_000), rng),
            "resource": self.resource(service),
            "severity": "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO",
            "spanId": str(rng.getrandbits(63)),
            "timestamp": rfc3339(us, rng),
            "trace": f"projects/{PROJECT}/traces/{self.hex(32)}",
        }

    def chatter(self, us: int) -> dict:
        rng = self.rng
        text = rng.choice(CHATTER).format(
            sid=self.session_id(),
            ms=rng.randrange(3, 900),
            n=rng.randrange(1, 40),
            agent=rng.choice(AGENTS),
            hex=self.hex(8),
            topic=rng.choice(TOPICS),
        )
        return self.entry(us, message=text, severity=rng.choice(("INFO", "INFO", "DEBUG")))

    def oddity(self, us: int) -> tuple[dict, str | None]:  # noqa: PLR0911
        """An entry that is no Phase 2 line of the service, and the category it counts in."""
        rng = self.rng
        roll = rng.randrange(7)
        if roll == 0:
            entry = self.entry(us, message="Job de réindexation terminé : 1 245 documents")
            entry["resource"] = {
                "labels": {"job_name": "emergence-reindex", "location": REGION},
                "type": "cloud_run_job",
            }
            return entry, "other_resource"
        if roll == 1:
            return {
                "insertId": self.hex(16),
                "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity",
                "protoPayload": {
                    "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                    "methodName": "google.cloud.run.v2.Services.UpdateService",
                    "serviceName": "run.googleapis.com",
                },
                "resource": {"labels": {"project_id": PROJECT}, "type": "audited_resource"},
                "severity": "NOTICE",
                "timestamp": rfc3339(us, rng),
            }, "other_resource"
        if roll == 2:
            entry = self.entry(us, message="Entrée sans ressource (export partiel)")
            del entry["resource"]
            return entry, "other_resource"
        if roll == 3:
            entry = self.entry(us, message="Révision sans étiquette de service")
            del entry["resource"]["labels"]
            return entry, "other_service"
        if roll == 4:
            entry = self.entry(us, payload={"event": "startup", "pid": 1, "workers": 2})
            del entry["jsonPayload"]["logger"]
            return entry, "without_message"
        if roll == 5:
            return self.request_log(us, service="emergence-worker"), None
        entry = self.entry(us, message=None, payload={"message": None, "logger": "uvicorn"})
        return entry, "without_message"

    # -- blocks --

    def block(self, block_start: int) -> list[dict]:
        s, rng = self.s, self.rng
        out: list[dict] = []
        truth = self.truth
        for service, sessions in ((SERVICE, s.sessions_per_block), (f"{SERVICE}-staging", 3)):
            for _ in range(sessions):
                sid = self.session_id()
                us = block_start + rng.randrange(0, 5 * 60 * 1_000_000)
                for index in range(rng.choice((1, 2, 2, 3, 3, 4))):
                    out.extend(self.analysis(sid, us, index == 0, service))
                    us += rng.randrange(190, 300) * 1_000_000
                    if us > block_start + BLOCK_US - 70 * 1_000_000:
                        break
        debates = int(s.debates_per_block) + (rng.random() < s.debates_per_block % 1)
        for _ in range(debates):
            us = block_start + rng.randrange(0, BLOCK_US - 60 * 1_000_000)
            out.extend(self.debate(us, SERVICE))
        if rng.random() < 0.3:
            out.extend(self.debate(block_start + rng.randrange(0, BLOCK_US // 2), "emergence-dev"))
        for _ in range(s.requests_per_block):
            us = block_start + rng.randrange(BLOCK_US)
            out.append(self.request_log(us))
        for _ in range(s.chatter_per_block):
            out.append(self.chatter(block_start + rng.randrange(BLOCK_US)))
        for _ in range(8):
            entry, category = self.oddity(block_start + rng.randrange(BLOCK_US))
            out.append(entry)
            if truth is not None and category is not None:
                setattr(truth, category, getattr(truth, category) + 1)
        if truth is not None:
            truth.without_message += s.requests_per_block
        return out


_DEBATE = "backend.features.debate.service"
_ANALYZER = "backend.features.memory.analyzer"


def _parse_us(text: str) -> int:
    parsed = datetime.fromisoformat(text)
    return round(parsed.timestamp() * 1_000_000)


def _order(entries: list[dict], newest_first: bool, rng: random.Random) -> list[dict]:
    """Sort by timestamp, then disorder locally (as merged instance streams arrive)."""

    def key(entry: dict) -> str:
        return entry.get("timestamp") or entry.get("receiveTimestamp") or ""

    entries.sort(key=key, reverse=newest_first)
    for i in range(0, len(entries) - 1):
        if rng.random() < 0.08:
            j = min(len(entries) - 1, i + rng.randrange(1, 6))
            entries[i], entries[j] = entries[j], entries[i]
    return entries


def generate(scenario: Scenario, truth: Truth | None = None) -> Iterator[dict | str]:
    """Yields entries (dicts) and corrupt raw lines (str, JSON lines layout only), in order.

    `truth`, when given, is filled in as the entries are produced.
    """
    sim = Simulator(scenario, truth)
    start_us = int(scenario.start.timestamp()) * 1_000_000
    newest_first = scenario.layout == "gcloud"
    blocks = range(scenario.blocks)
    for index in reversed(blocks) if newest_first else blocks:
        entries = _order(sim.block(start_us + index * BLOCK_US), newest_first, sim.rng)
        corrupt_at = (
            set(sim.rng.sample(range(len(entries)), k=min(len(entries), scenario.corrupt_lines)))
            if scenario.corrupt_lines and index == 1
            else set()
        )
        for position, entry in enumerate(entries):
            if sim.truth is not None:
                sim.truth.read += 1
            yield entry
            if position in corrupt_at:
                yield _corrupt(sim.rng, position)
                if sim.truth is not None:
                    sim.truth.read += 1
                    sim.truth.malformed += 1


def _corrupt(rng: random.Random, n: int) -> str:
    choices = (
        '{"insertId": "tronqué", "jsonPayload": {"message": "[MemoryAnalyzer] Cache HIT pour',
        "\x00\x00\x00 données binaires",
        '{"insertId": "a", "resource": }',
        "null",
        '"une chaîne seule"',
        "[1, 2, 3]",
        "{'simple': 'quotes'}",
        "42",
        "}{",
    )
    return choices[n % len(choices)]


def write(scenario: Scenario, path: Path, with_truth: bool = True) -> Truth | None:
    """Writes the export (and `<name>.truth.json`); returns the truth."""
    truth = Truth() if with_truth else None
    with path.open("w", encoding="utf-8", newline="\n") as out:
        if scenario.layout == "gcloud":
            out.write("[\n")
            first = True
            for item in generate(scenario, truth):
                assert isinstance(item, dict)
                text = json.dumps(item, indent=2, ensure_ascii=False, sort_keys=True)
                out.write(("" if first else ",\n") + "  " + text.replace("\n", "\n  "))
                first = False
            out.write("\n]\n")
        else:
            for item in generate(scenario, truth):
                line = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                out.write(line + "\n")
    if truth is not None:
        truth_path = path.with_name(path.name.split(".")[0] + ".truth.json")
        truth_path.write_text(
            json.dumps(truth.to_dict(scenario), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    return truth


def committed_files() -> dict[str, Path]:
    return {
        "after-gcloud": OUT_DIR / "after-gcloud.json",
        "before": OUT_DIR / "before.jsonl",
    }


def bench_scenario(entries: int, layout: str) -> Scenario:
    """A long day of traffic: enough 15-minute blocks for `entries` entries."""
    base = SCENARIOS["after-gcloud"]
    per_block = 263  # entries per 15-minute block of this scenario (measured)
    return Scenario(
        **{
            **base.__dict__,
            "name": f"bench-{entries}",
            "seed": 1_000_003,
            "blocks": max(1, math.ceil(entries / per_block)),
            "layout": layout,
        }
    )


def main(argv: list[str] | None = None) -> int:
    return generator_cli.run(
        argv,
        description=__doc__.split("\n\n")[0],
        layouts=("gcloud", "jsonl"),
        out_dir=OUT_DIR,
        committed=committed_files(),
        scenarios=SCENARIOS,
        write=write,
        bench_scenario=bench_scenario,
        written=lambda path: (path, path.with_name(path.name.split(".")[0] + ".truth.json")),
    )


if __name__ == "__main__":
    raise SystemExit(main())
