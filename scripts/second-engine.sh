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

me=second-engine
engine="the second engine"
root_why="start or stop the second engine (it runs a dockerd with its own data root and network namespace)"
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

# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

engine_docker() { docker -H "$host" "$@"; }

answers() { engine_docker info >/dev/null 2>&1; }

netns_up() {
  ip netns list 2>/dev/null | grep -qw "^$netns" || ip netns add "$netns"
  ip -n "$netns" link set lo up
}

# Starts dockerd in the background (its pid is then $!).
launch() {
  # A socket left by a killed daemon makes the new one fail to listen.
  rm -f "$sock"
  dockerd_flags kiln-b
  netns_up
  say "starting dockerd in network namespace $netns (log: $log_file)"
  # Only the network namespace is entered (and a UTS one, so that the engine names itself $name): mounts
  # stay the host's, so containerd and runc see the cgroup and overlay mounts as the first engine does. A
  # session of its own, so that it outlives whoever started it. setsid, nohup, nsenter, unshare and sh
  # each exec the next: $! is dockerd's pid.
  setsid nohup nsenter --net="/run/netns/$netns" -- unshare --uts -- \
    sh -c 'hostname "$0" && exec dockerd "$@"' "$name" "${dockerd_flags[@]}" \
    --bridge none \
    >"$log_file" 2>&1 </dev/null 9>&- &
}

start() {
  need_engine_tools nsenter
  dockerd_up launch
  load_images
  printf 'DOCKER_HOST=%s\n' "$host"
}

stop() {
  need_root stop "$root_why"
  dockerd_down
  rm -f "$sock"
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

case ${1:-} in
  start) lock "/run/$name.lock" && start ;;
  stop) lock "/run/$name.lock" && stop ;;
  purge)
    lock "/run/$name.lock" && stop
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
