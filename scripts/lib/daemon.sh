# What the stand-in daemons of the tests share (remote-engine.sh, second-engine.sh, ssh-engine.sh,
# cache-server.sh): messages, the root check, telling a live daemon from a stale pid file, waiting for a
# daemon to answer or to end, and one command at a time. The parts for a dockerd of its own (engines B
# and C) follow: its containerd's clean-up, its start and stop, copying images into it.
#
# Sourced, not run. Before sourcing, a script sets:
#   me         its name in messages and in the advice to run it as root (e.g. remote-engine)
# and defines:
#   answers    returns 0 when its daemon answers
# A dockerd script also sets root_why (what only root can do, for need_root), name, host, pid_file,
# exec_root, data_root, config_file, log_file, wait_s, images (an array), engine (e.g. "the remote
# engine") and defines engine_docker (the docker CLI aimed at its engine).

say() { printf '%s: %s\n' "$me" "$*" >&2; }
fail() {
  say "$1"
  exit 3
}

# need_root COMMAND WHAT: exits 3 unless root, saying that only root can WHAT.
need_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  fail "only root can $2. Run this as root (sudo bash scripts/$me.sh $1), as the tests do in CI."
}

# pid_is PID COMM MARK: whether process PID is alive, is COMM (any command when COMM is empty) and has MARK
# in its command line.
pid_is() {
  [[ -z $2 || $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] &&
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$3"
}

# live_pid FILE COMM MARK: prints the pid FILE names when `pid_is PID COMM MARK`. Anything else (no file, a
# dead pid, a pid reused by another process) is a stale file: returns 1.
live_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] && pid_is "$pid" "$2" "$3" || return 1
  printf '%s\n' "$pid"
}

# wait_gone PID [SECONDS]: returns 0 once PID has ended, 1 when it still runs after SECONDS (default 30).
wait_gone() {
  local pid=$1 i
  for ((i = 0; i < ${2:-30} * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  return 1
}

# end_pid PID SECONDS [WHAT]: SIGTERM, then SIGKILL when PID still runs after SECONDS (saying so, when
# WHAT names it).
end_pid() {
  local pid=$1 seconds=$2 what=${3:-}
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" "$seconds" && return 0
  [[ -n $what ]] && say "$what (pid $pid) did not stop within ${seconds}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" || true
}

# await_answers SECONDS [PID]: waits until `answers`, for at most SECONDS, or until PID (the daemon just
# started) ends. Returns whether it answers.
await_answers() {
  local seconds=$1 pid=${2:-} i
  for ((i = 0; i < seconds * 4; i++)); do
    answers && return 0
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  answers
}

# lock FILE: one start or stop at a time (two test runs starting a daemon together would start two). The
# daemon is started without the lock's descriptor (9>&-), so that it does not hold the lock.
lock() {
  [[ $(id -u) -eq 0 ]] || return 0 # the command then explains that it needs root
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  flock 9
}

# ---------------------------------------------------------------------------------------------------------
# A dockerd of its own

# The pid of our dockerd when it is alive: the pid file names a dockerd with our exec root.
dockerd_pid() { live_pid "$pid_file" dockerd "--exec-root $exec_root "; }

# The managed containerd our dockerd started, when it outlived it (dockerd killed with SIGKILL).
stop_containerd() {
  local pid
  pid=$(live_pid "$exec_root/containerd/containerd.pid" containerd "$exec_root/") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
}

# dockerd_flags NAMESPACE: sets the array dockerd_flags to what every dockerd of its own takes: its own
# configuration, data root, exec root, pid file, address, containerd namespaces (NAMESPACE, e.g. kiln-b)
# and cgroup parent, and no rules in the host's iptables (those are the host engine's).
dockerd_flags() {
  dockerd_flags=(
    --config-file "$config_file"
    --data-root "$data_root"
    --exec-root "$exec_root"
    --pidfile "$pid_file"
    -H "$host"
    --containerd-namespace "$1"
    --containerd-plugins-namespace "$1-plugins"
    --cgroup-parent "$name"
    --iptables=false
    --ip6tables=false
    --ip-forward=false
    --ip-masq=false
  )
}

# dockerd_up LAUNCH: unless the engine answers, starts its dockerd with the function LAUNCH (which runs it
# in the background, last: its $! is dockerd's pid) after clearing what a killed one left behind, or waits
# for the one starting; fails with the end of its log when it does not answer within wait_s.
dockerd_up() {
  local launch=$1 pid
  answers && return 0
  if pid=$(dockerd_pid); then
    say "dockerd (pid $pid) is running but does not answer yet; waiting..."
  else
    [[ -e $pid_file ]] && say "removing a stale pid file ($pid_file)"
    rm -f "$pid_file"
    # A containerd left behind by a killed daemon (or the stale pid file of one) makes the new one wait
    # for a containerd that never answers.
    stop_containerd
    rm -f "$exec_root/containerd/containerd.pid"
    mkdir -p "$data_root" "$exec_root"
    # Its own configuration: never /etc/docker/daemon.json, which is the first engine's; and its own key
    # (/etc/docker/key.json would give it the first engine's ID).
    printf '{ "deprecated-key-path": "%s" }\n' "$data_root/key.json" >"$config_file"
    "$launch"
    pid=$!
    disown || true
  fi
  if ! await_answers "$wait_s" "$pid"; then
    tail -n 20 "$log_file" >&2 2>/dev/null || true
    fail "$engine did not answer (within ${wait_s}s, or its dockerd ended); its log is above and in $log_file."
  fi
  say "engine is up at $host"
}

# dockerd_down: stops our dockerd (it stops its containers and its containerd on SIGTERM) and a containerd
# a killed one left behind.
dockerd_down() {
  local pid
  if pid=$(dockerd_pid); then end_pid "$pid" 30 dockerd; fi
  stop_containerd
  rm -f "$pid_file"
}

# Copies the images it lacks from the first engine.
load_images() {
  local image
  for image in "${images[@]}"; do
    engine_docker image inspect "$image" >/dev/null 2>&1 && continue
    docker image inspect "$image" >/dev/null 2>&1 ||
      fail "the first engine has no $image to copy: run 'bash scripts/build-fixtures.sh' first."
    say "copying $image from the first engine"
    docker save "$image" | engine_docker load >/dev/null ||
      fail "could not copy $image into $engine."
  done
}

# need_engine_tools TOOL: what a start needs: root, dockerd and the docker CLI, ip (iproute2) and TOOL (of
# util-linux: unshare, nsenter).
need_engine_tools() {
  need_root start "$root_why"
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 ||
    fail "dockerd is not installed: run 'bash scripts/ensure-engine.sh' first (it installs Debian's docker.io)."
  command -v ip >/dev/null 2>&1 && command -v "$1" >/dev/null 2>&1 ||
    fail "$engine needs 'ip' (iproute2) and '$1' (util-linux): apt-get install iproute2 util-linux."
}
