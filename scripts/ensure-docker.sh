#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io when no engine is present,
# and start dockerd in the background when none is running. Idempotent; safe to call often.
set -euo pipefail

log=${AGENTGYM_DOCKERD_LOG:-/var/log/agentgym-dockerd.log}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-docker: no Docker engine and not root; install docker.io (or Docker Engine) and start it" >&2
    exit 1
  fi
  echo "ensure-docker: installing Debian's docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: $log)" >&2
  # setsid: dockerd must not die with the shell (or make) that started it.
  setsid nohup dockerd >"$log" 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log" >&2
exit 1
