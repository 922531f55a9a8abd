#!/usr/bin/env bash
# Creates the policy pack's own virtualenv (policy/venv, named in policy/PulumiPolicy.yaml) and
# installs policy/requirements.txt into it. `pulumi preview --policy-pack policy` runs the pack
# with that venv's python; the Pulumi CLI does not create it for a local pack directory.
# Safe to run again: it reinstalls only when policy/requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")/../policy"

[ -x venv/bin/python ] || python3 -m venv venv
stamp=venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "policy-venv: installing policy/requirements.txt into policy/venv" >&2
  venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$want" >"$stamp"
fi
