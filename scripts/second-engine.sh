#!/usr/bin/env bash
# A second Docker engine on this host, standing in for another machine in the tests (a CI runner that
# shares kiln's cache with this one). It has its own data root, exec root, socket, pid file, cgroup
# parent and containerd namespaces, and runs in a network namespace of its own with no bridge: jobs in
# the tests need no network, and a `dockerd --bridge none` in the host's namespace would delete the
# host engine's docker0 and break every container of the first engine.
#
# Usage: second-engine.sh start|stop|purge|env|status
#   start   start it (nothing when it already answers), load the fixture images it lacks from the first
#           engine (`docker save | docker load`), then print the DOCKER_HOST line
#   stop    stop it and remove its network namespace; its data root (and so its images) is kept
#   purge   stop, then delete its data root
#   env     print DOCKER_HOST=unix:///run/kiln-engine-b.sock
#   status  exit 0 when it answers, 1 when not
#
# Root only (it starts a daemon): otherwise it explains and exits 3, kiln's code for infrastructure.
#
# Environment:
#   KILN_ENGINE_B_WAIT     seconds to wait for the started daemon to answer (default 60)
#   KILN_ENGINE_B_IMAGES   images to copy from the first engine (default: kiln-fixture/busybox:latest)
set -euo pipefail

name=kiln-engine-b
sock=/run/$name.sock
host=unix://$sock
pid_file=/run/$name.pid
exec_root=/run/$name
data_root=/var/lib/$name
netns=$name
log_file=/var/log/$name.log
config_file=$data_root.json
wait_s=${KILN_ENGINE_B_WAIT:-60}
read -r -a images <<<"${KILN_ENGINE_B_IMAGES:-kiln-fixture/busybox:latest}"

say() { printf 'second-engine: %s\n' "$*" >&2; }
fail() {
  say "$1"
  exit 3
}

answers() { docker -H "$host" info >/dev/null 2>&1; }

# The pid of our dockerd when it is alive: the pid file names a dockerd serving our socket. Anything else
# (no file, a dead pid, a pid reused by another process) is a stale file.
live_pid() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$sock" || return 1
  printf '%s\n' "$pid"
}

# The managed containerd our dockerd started, when it outlived it (dockerd killed with SIGKILL).
containerd_pid() {
  local pid
  pid=$(cat "$exec_root/containerd/containerd.pid" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$exec_root/" || return 1
  printf '%s\n' "$pid"
}

stop_containerd() {
  local pid
  pid=$(containerd_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
}

wait_gone() {
  local pid=$1 i
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  return 1
}

need_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  fail "only root can start or stop the second engine (it runs a dockerd with its own data root and network
  namespace). Run this as root (sudo bash scripts/second-engine.sh $1), as the tests do in CI."
}

netns_up() {
  ip netns list 2>/dev/null | grep -qw "^$netns" || ip netns add "$netns"
  ip -n "$netns" link set lo up
}

load_images() {
  local image
  for image in "${images[@]}"; do
    docker -H "$host" image inspect "$image" >/dev/null 2>&1 && continue
    docker image inspect "$image" >/dev/null 2>&1 ||
      fail "the first engine has no $image to copy: run 'bash scripts/build-fixtures.sh' first."
    say "copying $image from the first engine"
    docker save "$image" | docker -H "$host" load >/dev/null ||
      fail "could not copy $image into the second engine."
  done
}

start() {
  need_root start
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 ||
    fail "dockerd is not installed: run 'bash scripts/ensure-engine.sh' first (it installs Debian's docker.io)."
  command -v ip >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 ||
    fail "the second engine needs 'ip' (iproute2) and 'nsenter' (util-linux): apt-get install iproute2 util-linux."
  if ! answers; then
    local pid
    if pid=$(live_pid); then
      say "dockerd (pid $pid) is running but does not answer yet; waiting..."
    else
      [[ -e $pid_file ]] && say "removing a stale pid file ($pid_file)"
      rm -f "$pid_file"
      # A socket left by a killed daemon makes the new one fail to listen, and a containerd it left
      # behind (or the stale pid file of one) makes the new one wait for a containerd that never answers.
      rm -f "$sock"
      stop_containerd
      rm -f "$exec_root/containerd/containerd.pid"
      mkdir -p "$data_root" "$exec_root"
      # Its own configuration: never /etc/docker/daemon.json, which is the first engine's; and its own
      # key (/etc/docker/key.json would give it the first engine's ID).
      printf '{ "deprecated-key-path": "%s" }\n' "$data_root/key.json" >"$config_file"
      netns_up
      say "starting dockerd in network namespace $netns (log: $log_file)"
      # Only the network namespace is entered (and a UTS one, so that the engine names itself $name):
      # mounts stay the host's, so containerd and runc see the cgroup and overlay mounts as the first
      # engine does. A session of its own, so that it outlives whoever started it.
      setsid nohup nsenter --net="/run/netns/$netns" -- unshare --uts -- \
        sh -c 'hostname "$0" && exec dockerd "$@"' "$name" \
        --config-file "$config_file" \
        --data-root "$data_root" \
        --exec-root "$exec_root" \
        --pidfile "$pid_file" \
        -H "$host" \
        --containerd-namespace kiln-b \
        --containerd-plugins-namespace kiln-b-plugins \
        --cgroup-parent "$name" \
        --bridge none \
        --iptables=false \
        --ip6tables=false \
        --ip-forward=false \
        --ip-masq=false \
        >"$log_file" 2>&1 </dev/null 9>&- &
      # setsid, nohup, nsenter, unshare and sh each exec the next: this is dockerd's pid.
      pid=$!
      disown || true
    fi
    local i
    for ((i = 0; i < wait_s * 4; i++)); do
      answers && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if ! answers; then
      tail -n 20 "$log_file" >&2 2>/dev/null || true
      fail "the second engine did not answer (within ${wait_s}s, or its dockerd ended); its log is above and in $log_file."
    fi
    say "engine is up at $host"
  fi
  load_images
  printf 'DOCKER_HOST=%s\n' "$host"
}

stop() {
  need_root stop
  local pid
  if pid=$(live_pid); then
    # dockerd stops its containers and its containerd on SIGTERM.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid"; then
      say "dockerd (pid $pid) did not stop within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" || true
    fi
  fi
  stop_containerd
  rm -f "$pid_file" "$sock"
  # Mounts a killed daemon left behind (container root filesystems, its exec root).
  local mount
  while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done < <(awk -v a="$data_root/" -v b="$exec_root/" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' \
    /proc/self/mountinfo | sort -r)
  if ip netns list 2>/dev/null | grep -qw "^$netns"; then
    ip netns delete "$netns"
  fi
}

# One start or stop at a time (two test runs starting it together would start two daemons). The daemon
# is started without the lock's descriptor, so that it does not hold the lock.
lock() {
  [[ $(id -u) -eq 0 ]] || return 0 # the command then explains that it needs root
  exec 9>"/run/$name.lock"
  flock 9
}

case ${1:-} in
  start) lock && start ;;
  stop) lock && stop ;;
  purge)
    lock && stop
    # dockerd bind-mounts its data root onto itself and leaves it so.
    while mountpoint -q "$data_root" 2>/dev/null; do umount "$data_root"; done
    rm -rf "$data_root" "$config_file" "$exec_root"
    ;;
  env) printf 'DOCKER_HOST=%s\n' "$host" ;;
  status) answers ;;
  *)
    say "usage: second-engine.sh start|stop|purge|env|status"
    exit 2
    ;;
esac
