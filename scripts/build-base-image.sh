#!/usr/bin/env bash
# Build the agentgym sandbox base image (debootstrap bookworm minbase + docker import).
# Idempotent: does nothing when `docker image inspect agentgym/base:bookworm-1` finds it.
# Needs root, debootstrap and a running engine (scripts/start-dockerd.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" -m agentgym.sandbox.image "$@"
