#!/usr/bin/env bash
# A second Docker engine, beside the sandbox's, whose own BuildKit can export a registry cache:
# Docker 26 from Debian trixie on the containerd image store, with the buildx plugin. It is the
# builder `pulumi up` builds the image with, as far as this machine can have one: a GitHub
# runner makes a docker-container builder (docker/setup-buildx-action), which needs BuildKit's
# image from Docker Hub, unreachable here. tests/image/test_registry_cache.py and
# `bench/cold_deploy.py` build on it.
#
# Source it (after ../shared/tools/docker-sandbox.sh, whose engine gives it the python:3.11-slim
# stand-in and whose docker.io package brings runc):
#     . scripts/buildx-engine.sh
# It exports, and changes nothing else in the shell:
#     BUILDX_ENGINE_HOST    unix socket of the engine (for DOCKER_HOST)
#     BUILDX_ENGINE_CONFIG  a DOCKER_CONFIG whose cli-plugins hold docker-buildx
#     BUILDX_ENGINE_BIN     the directory of its docker CLI (first on PATH for it)
# so that `env DOCKER_HOST=$BUILDX_ENGINE_HOST DOCKER_CONFIG=$BUILDX_ENGINE_CONFIG
# PATH=$BUILDX_ENGINE_BIN:$PATH docker buildx build ...` builds there. Safe to source again: it
# reuses what is there. The packages come from Debian's archive through apt with a list of its
# own (signatures checked against the system's Debian keyring); nothing is installed into the
# system: they are unpacked under /var/lib/buildx-engine.

_bx_main() {
  local root=/var/lib/buildx-engine
  local sock=$root/docker.sock
  local pkgs=(docker.io docker-cli docker-buildx containerd)
  local apt_opts=(
    -o "Dir::Etc::SourceList=$root/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$root/apt/lists" -o "Dir::Cache=$root/apt/cache"
    -o "APT::Architecture=amd64" -o "Debug::NoLocking=1"
  )
  if [ "$(uname -m)" != x86_64 ]; then
    echo "buildx-engine: this script unpacks Debian's amd64 packages; $(uname -m) is not amd64" >&2
    return 1
  fi
  if ! command -v runc >/dev/null 2>&1; then
    echo "buildx-engine: runc not found: source ../shared/tools/docker-sandbox.sh first (its docker.io brings runc)" >&2
    return 1
  fi

  if [ ! -x "$root/pkg/usr/sbin/dockerd" ] || [ ! -x "$root/pkg/usr/libexec/docker/cli-plugins/docker-buildx" ]; then
    echo "buildx-engine: fetching ${pkgs[*]} from Debian trixie (about 80 MB, once)" >&2
    mkdir -p "$root/apt/lists/partial" "$root/apt/cache/archives/partial" "$root/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
      >"$root/apt/sources.list"
    apt-get "${apt_opts[@]}" update -qq >"$root/apt.log" 2>&1 \
      || { echo "buildx-engine: apt-get update of Debian trixie failed; see $root/apt.log" >&2; return 1; }
    rm -f "$root"/debs/*.deb
    (cd "$root/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}") >>"$root/apt.log" 2>&1 \
      || { echo "buildx-engine: apt-get download ${pkgs[*]} failed; see $root/apt.log" >&2; return 1; }
    rm -rf "$root/pkg"; mkdir -p "$root/pkg"
    local deb
    for deb in "$root"/debs/*.deb; do
      dpkg-deb -x "$deb" "$root/pkg" || { echo "buildx-engine: cannot unpack $deb" >&2; return 1; }
    done
  fi

  export BUILDX_ENGINE_HOST="unix://$sock"
  export BUILDX_ENGINE_CONFIG="$root/cli"
  export BUILDX_ENGINE_BIN="$root/pkg/usr/bin"
  mkdir -p "$root/cli/cli-plugins"
  ln -sf "$root/pkg/usr/libexec/docker/cli-plugins/docker-buildx" "$root/cli/cli-plugins/docker-buildx"
  [ -f "$root/cli/config.json" ] || echo '{}' >"$root/cli/config.json"

  _bx_docker() { DOCKER_HOST="$BUILDX_ENGINE_HOST" DOCKER_CONFIG="$BUILDX_ENGINE_CONFIG" "$BUILDX_ENGINE_BIN/docker" "$@"; }
  if ! _bx_docker info >/dev/null 2>&1; then
    if [ -f "$root/dockerd.pid" ] && kill -0 "$(cat "$root/dockerd.pid")" 2>/dev/null; then
      : # starting up already
    else
      rm -f "$sock" "$root/dockerd.pid"
      mkdir -p "$root/data" "$root/exec"
      # The containerd image store: the engine's own BuildKit then exports registry caches.
      echo '{"features": {"containerd-snapshotter": true}}' >"$root/daemon.json"
      # Its own containerd (1.7, from the same suite) comes first on its PATH.
      PATH="$root/pkg/usr/bin:$root/pkg/usr/sbin:$PATH" nohup "$root/pkg/usr/sbin/dockerd" \
        --config-file="$root/daemon.json" --iptables=false --ip6tables=false --bridge=none \
        --data-root="$root/data" --exec-root="$root/exec" --pidfile="$root/dockerd.pid" \
        -H "$BUILDX_ENGINE_HOST" >"$root/dockerd.log" 2>&1 &
    fi
    local _
    for _ in $(seq 1 60); do _bx_docker info >/dev/null 2>&1 && break; sleep 1; done
    _bx_docker info >/dev/null 2>&1 || { echo "buildx-engine: dockerd did not start; see $root/dockerd.log" >&2; return 1; }
  fi
  if ! _bx_docker info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q io.containerd.snapshotter; then
    echo "buildx-engine: the engine on $sock is not on the containerd image store; see $root/dockerd.log" >&2
    return 1
  fi
  if ! _bx_docker image inspect python:3.11-slim >/dev/null 2>&1; then
    # the sandbox's stand-in (the current DOCKER_HOST), copied over
    docker save python:3.11-slim | _bx_docker load -q >/dev/null \
      || { echo "buildx-engine: could not copy python:3.11-slim from the sandbox's engine" >&2; return 1; }
  fi
  return 0
}

_bx_main
_bx_rc=$?
unset -f _bx_main _bx_docker
(exit "$_bx_rc")
