"""The fixture's ASGI app: `uvicorn --app-dir src fixture_app.main:app`.

Like emergence-app: the log directory is created when the module is imported, the model is
loaded from the Hugging Face cache at start (offline), a SQLite database is written under the
package's data directory, and the app's root directory is served at `/`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path

import magic  # python-magic: fails at import without libmagic1
from fastapi import FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from huggingface_hub import snapshot_download

ROOT = Path(__file__).resolve().parents[2]  # the app's root (/app in the image)
DATA_DIR = Path(__file__).resolve().parent / "data"
MODEL = "fixture/tiny-embedder"

# Created at import, relative to the working directory, like emergence-app's logs/.
LOG_DIR = Path("logs")
LOG_DIR.mkdir(exist_ok=True)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
log = logging.getLogger("fixture")
log.addHandler(logging.FileHandler(LOG_DIR / "app.log"))

STATE: dict[str, object] = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Offline: HF_HUB_OFFLINE=1 in the image; a missing model fails the start.
    folder = Path(snapshot_download(MODEL))
    model = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    db_path = DATA_DIR / "db" / "fixture.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS starts (at TEXT DEFAULT CURRENT_TIMESTAMP)")
        db.execute("INSERT INTO starts DEFAULT VALUES")
        starts = db.execute("SELECT COUNT(*) FROM starts").fetchone()[0]
    STATE.update(
        model=model["name"],
        model_path=str(folder),
        db=str(db_path),
        starts=starts,
        magic=magic.from_buffer(b"%PDF-1.4\n", mime=True),
    )
    log.info("fixture ready: model %s, database %s", model["name"], db_path)
    yield


app = FastAPI(title="emergence-like fixture", lifespan=lifespan)


@app.get("/api/health")
def health() -> dict[str, object]:
    return {"status": "ok", "model": STATE.get("model")}


@app.get("/api/fixture/state")
def state() -> dict[str, object]:
    return {**STATE, "uid": os.getuid(), "cwd": os.getcwd()}


@app.get("/api/auth/session")
def session(request: Request) -> dict[str, str]:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        raise HTTPException(status_code=401, detail="ID token invalide ou absent.")
    return {"status": "ok"}


# Like emergence-app: the whole app directory is served, index.html at /.
app.mount("/", StaticFiles(directory=str(ROOT), html=True), name="base")
