#!/usr/bin/env bash
# Installs the policy pack's own requirements where `pulumi preview/up --policy-pack policy` will
# look for them. A local policy pack's dependencies are not installed by `--policy-pack`, and the
# pack pins its own versions (pulumi-policy pins protobuf and pulumi), so it gets its own venv.
#
# The venv is the one policy/PulumiPolicy.yaml names (runtime.options.virtualenv, relative to the
# pack). Without one, Pulumi runs the pack with the `python3` on PATH, so the requirements go there.
# Usage: bash scripts/policy-venv.sh [PACK_DIR]   (default: policy). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${1:-policy}
python=${PYTHON:-.venv/bin/python}

if [ ! -f "$pack/PulumiPolicy.yaml" ]; then
  echo "policy-venv: $pack/PulumiPolicy.yaml not found: no policy pack to prepare" >&2
  exit 1
fi
if [ ! -f "$pack/requirements.txt" ]; then
  echo "policy-venv: $pack/requirements.txt not found: the pack must declare its requirements" >&2
  exit 1
fi
if [ ! -x "$python" ]; then
  echo "policy-venv: $python not found: run 'bash scripts/bootstrap.sh' first" >&2
  exit 1
fi

# The virtualenv PulumiPolicy.yaml names, or nothing (PyYAML is in the program's requirements).
venv=$("$python" - "$pack/PulumiPolicy.yaml" <<'PY'
import sys
import yaml

with open(sys.argv[1], encoding="utf-8") as fh:
    doc = yaml.safe_load(fh) or {}
runtime = doc.get("runtime")
options = runtime.get("options") if isinstance(runtime, dict) else None
venv = options.get("virtualenv") if isinstance(options, dict) else None
print(venv or "")
PY
)

if [ -n "$venv" ]; then
  case "$venv" in
    /*) target=$venv ;;
    *) target=$pack/$venv ;;
  esac
  [ -x "$target/bin/python" ] || python3 -m venv "$target"
  # Reinstall only when the requirements changed since the last run.
  stamp=$target/.requirements.sha256
  want=$(sha256sum "$pack/requirements.txt" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "policy-venv: installing $pack/requirements.txt into $target" >&2
    "$target/bin/python" -m pip install --quiet -r "$pack/requirements.txt"
    echo "$want" >"$stamp"
  fi
else
  echo "policy-venv: $pack/PulumiPolicy.yaml names no virtualenv; installing into $(command -v python3)" >&2
  python3 -m pip install --quiet -r "$pack/requirements.txt"
fi
