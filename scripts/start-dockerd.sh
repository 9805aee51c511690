#!/usr/bin/env bash
# Start the Docker engine for agentgym sandboxes (idempotent).
# If `docker info` answers, do nothing. Otherwise start dockerd without a bridge network
# (sandboxes run with network_mode=none) and wait up to 60 s for it to answer.
set -u
if docker info >/dev/null 2>&1; then
    echo "dockerd: already running"
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd: not installed (apt-get install -y docker.io)" >&2
    exit 1
fi
LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$LOG" 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "dockerd: up"
        exit 0
    fi
    sleep 1
done
echo "dockerd: did not answer within 60 s; see $LOG" >&2
tail -20 "$LOG" >&2
exit 1
