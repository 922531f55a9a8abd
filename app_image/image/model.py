"""Build step: put the embedding model in the image's Hugging Face cache, or check it is there.

Run by the Dockerfile's model step with the app's virtualenv python, as
`model.py <cache dir>`, with the build arguments in the environment:
- HF_MODEL empty: nothing to do (the reference app has no model);
- HF_CACHE_DIR set: the cache was copied from the build context; check that it holds HF_MODEL
  (`models--<org>--<name>/snapshots/<rev>/` and, for a branch revision, `refs/<branch>`);
- otherwise: download HF_MODEL at HF_MODEL_REVISION from the hub with the app's own
  huggingface_hub, into the same cache layout, without the other formats the repository
  carries (ONNX, OpenVINO, TensorFlow...; `OTHER_FORMATS`).
The app then loads it with HF_HUB_OFFLINE=1: no request to the hub at start. A failure is one
line naming the build argument and the fix.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def fail(message: str) -> None:
    sys.exit(f"model: {message}")


def snapshot(cache: Path, model: str, revision: str) -> Path | None:
    repo = cache / ("models--" + model.replace("/", "--"))
    if _COMMIT.match(revision):
        commit = revision
    else:
        ref = repo / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    folder = repo / "snapshots" / commit
    return folder if folder.is_dir() and any(folder.iterdir()) else None


# The other formats a hub repository often carries besides the PyTorch weights
# (sentence-transformers/all-MiniLM-L6-v2: ONNX, OpenVINO, TensorFlow, Flax, Rust, ~1 GB in
# all); sentence-transformers and transformers load the safetensors or PyTorch weights.
OTHER_FORMATS = (
    "*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*",
)  # fmt: skip


def _ignored(model: str, revision: str) -> tuple[str, ...]:
    """OTHER_FORMATS, and the legacy PyTorch weights when the repository has safetensors."""
    from huggingface_hub import HfApi  # noqa: PLC0415

    files = HfApi().list_repo_files(model, revision=revision)
    legacy = ("*.bin",) if any(f.endswith(".safetensors") for f in files) else ()
    return (*OTHER_FORMATS, *legacy)


def main() -> None:
    cache = Path(sys.argv[1])
    model = os.environ.get("HF_MODEL", "").strip()
    revision = os.environ.get("HF_MODEL_REVISION", "").strip() or "main"
    source = os.environ.get("HF_CACHE_DIR", "").strip()
    cache.mkdir(parents=True, exist_ok=True)
    if not model:
        return
    if model.count("/") != 1:
        fail(f"HF_MODEL={model!r} is not a hub repository id (<org>/<name>)")
    if not source:
        try:
            from huggingface_hub import snapshot_download  # noqa: PLC0415
        except ImportError:
            fail(
                "the app's requirements have no huggingface_hub to download HF_MODEL with; "
                "supply the model with HF_CACHE_DIR instead"
            )
        try:
            snapshot_download(
                model,
                revision=revision,
                cache_dir=str(cache),
                ignore_patterns=list(_ignored(model, revision)),
            )
        except Exception as exc:  # noqa: BLE001 - one line, whatever the hub library raised
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            fail(
                f"cannot download {model}@{revision} from the hub ({first}); without access "
                "to the hub, put a Hugging Face cache in the build context and name it with "
                "the build argument HF_CACHE_DIR"
            )
    found = snapshot(cache, model, revision)
    main_ref = cache / ("models--" + model.replace("/", "--")) / "refs" / "main"
    if found is not None and _COMMIT.match(revision) and not main_ref.exists():
        # A pinned commit: the app asks for the model by name (revision main), offline.
        main_ref.parent.mkdir(parents=True, exist_ok=True)
        main_ref.write_text(revision, encoding="utf-8")
    if found is None:
        where = f"HF_CACHE_DIR={source}" if source else "the downloaded cache"
        fail(
            f"{where} holds no snapshot of {model}@{revision} (want "
            f"models--{model.replace('/', '--')}/snapshots/<rev>/ and refs/{revision})"
        )
    sys.stdout.write(f"model: {model}@{revision} baked in at {found}\n")


if __name__ == "__main__":
    main()
