"""A debate, logged with the events the Phase 2 report measures (docs/phase2.md of the infra).

emergence-app logs one debate event today, `debate_start`; the attacker's and challenger's
turns go out on WebSockets only, so round 1's duration, their overlap and the whole debate's
duration cannot be measured from its logs. These are the lines it would need, in its own style
(`logger.info(json.dumps({...}, ensure_ascii=False))` under its logging format):

    {"event": "debate_start", "debate_id": ..., "session_id": ..., "topic": ..., "rounds": 2,
     "agent_order": [attacker, challenger, mediator], "use_rag": false}
    {"event": "debate_agent_start", "debate_id": ..., "round": 1, "role": "attacker", "agent": ...}
    {"event": "debate_agent_end", "debate_id": ..., "round": 1, "role": "attacker", "agent": ...,
     "duration_ms": 2710, "ok": true}
    ... the challenger's, the later rounds', the mediator's ("phase": "synthesis") ...
    {"event": "debate_end", "debate_id": ..., "status": "completed", "duration_ms": 8420}

The reference app has no language model: an agent's turn is `think(role, agent, round)`, by
default a pause of `turn_seconds`. The attacker and the challenger of a round take their turns
concurrently, as Phase 2 made emergence-app do. Nothing here imports a web framework, so the
tests run it directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

logger = logging.getLogger("app.debate")

Think = Callable[[str, str, int | None], Awaitable[None]]


def log_event(event: dict[str, Any]) -> None:
    logger.info(json.dumps(event, ensure_ascii=False))


def pause(seconds: float) -> Think:
    async def think(_role: str, _agent: str, _round: int | None) -> None:
        await asyncio.sleep(seconds)

    return think


async def run_debate(
    topic: str,
    agents: Sequence[str] = ("neo", "nexus", "anima"),
    rounds: int = 2,
    *,
    turn_seconds: float = 0.2,
    think: Think | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Runs a debate (attacker, challenger, then the mediator's synthesis), logging each event.

    A turn that raises fails the debate: the round ends, no synthesis, `status` "failed".
    """
    if len(agents) != 3:
        raise ValueError("a debate has three agents: attacker, challenger, mediator")
    attacker, challenger, mediator = agents
    think = think or pause(turn_seconds)
    debate_id = "debate_" + secrets.token_hex(4)
    started = time.monotonic()
    log_event(
        {
            "event": "debate_start",
            "debate_id": debate_id,
            "session_id": session_id or debate_id,
            "topic": topic,
            "rounds": rounds,
            "agent_order": [attacker, challenger, mediator],
            "use_rag": False,
        }
    )

    async def turn(role: str, agent: str, round_number: int | None) -> bool:
        where = {"round": round_number} if round_number is not None else {"phase": "synthesis"}
        base = {"debate_id": debate_id, **where, "role": role, "agent": agent}
        log_event({"event": "debate_agent_start", **base})
        begun = time.monotonic()
        ok = True
        try:
            await think(role, agent, round_number)
        except Exception:  # noqa: BLE001 - any failure of a turn fails the debate, logged below
            ok = False
        took = round((time.monotonic() - begun) * 1000)
        log_event({"event": "debate_agent_end", **base, "duration_ms": took, "ok": ok})
        return ok

    status = "completed"
    for number in range(1, rounds + 1):
        results = await asyncio.gather(
            turn("attacker", attacker, number), turn("challenger", challenger, number)
        )
        if not all(results):
            status = "failed"
            break
    if status == "completed" and not await turn("mediator", mediator, None):
        status = "failed"
    duration_ms = round((time.monotonic() - started) * 1000)
    end = {"event": "debate_end", "debate_id": debate_id, "status": status}
    log_event({**end, "duration_ms": duration_ms})
    return {"debate_id": debate_id, "status": status, "duration_ms": duration_ms}
