#!/usr/bin/env bash
# Make sure a Docker engine answers. Fast and silent when one already does.
#
# Where none answers and this runs as root with apt-get available, it installs Debian's docker.io,
# starts dockerd in the background (clearing a stale pid file or socket left by a killed daemon) and
# waits until the engine answers. Otherwise it says what the user must do and exits 3, kiln's exit code
# for an infrastructure fault.
#
# Environment:
#   KILN_ENGINE_WAIT   seconds to wait for a started daemon to answer (default 60)
#   DOCKER_HOST        honoured: when set, only that engine is checked, nothing is started
set -euo pipefail

wait_s=${KILN_ENGINE_WAIT:-60}
log_file=/var/log/kiln-dockerd.log
pid_file=/var/run/docker.pid
sock=/var/run/docker.sock

say() { printf 'ensure-engine: %s\n' "$*" >&2; }
fail() {
  say "$1"
  exit 3
}

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi

if [[ -n ${DOCKER_HOST:-} ]]; then
  fail "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST. Start that engine, or unset DOCKER_HOST to use the local one."
fi

if [[ $(id -u) -ne 0 ]]; then
  fail "no Docker engine answers at $sock, and only root may install or start one here.
  Start it with 'sudo systemctl start docker' (or 'sudo dockerd &'), or ask for access to the docker group,
  then run this again."
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "no Docker engine is installed and apt-get is not available: install Docker Engine for this system, then run this again."
  say "installing Debian's docker.io (one time)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null ||
    fail "apt-get could not install docker.io; see the lines above."
fi

# A daemon may already be starting (another caller of this script): give it a moment before starting a second.
if [[ -f $pid_file ]]; then
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/comm" 2>/dev/null; then
    say "dockerd (pid $pid) is running but does not answer yet; waiting..."
  else
    say "removing the stale pid file of a daemon that is gone (pid ${pid:-?})"
    rm -f "$pid_file"
    pid=""
  fi
else
  pid=""
fi

if [[ -z $pid ]]; then
  # A socket left by a killed daemon makes the new one fail to listen.
  if [[ -S $sock ]] && ! pgrep -x dockerd >/dev/null 2>&1; then
    rm -f "$sock"
  fi
  # containerd's own stale pid/socket are handled by dockerd, which starts its managed containerd.
  say "starting dockerd (log: $log_file)"
  # In a session of its own: a daemon must outlive the process group of whoever started it.
  setsid nohup dockerd --pidfile "$pid_file" >"$log_file" 2>&1 </dev/null &
  disown || true
fi

for ((i = 0; i < wait_s * 4; i++)); do
  if engine_answers; then
    say "engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
  fi
  sleep 0.25
done
tail -n 20 "$log_file" >&2 2>/dev/null || true
fail "dockerd did not answer within ${wait_s}s; its log is above and in $log_file."
