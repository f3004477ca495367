#!/usr/bin/env bash
# The host's Docker engine reached over ssh, as kiln reaches a builder box with DOCKER_HOST=ssh://...: an
# sshd of its own on a loopback port (Debian's openssh-server, installed when missing), which lets in one
# key, and an ssh agent of its own that holds that key. Everything lives under its state folder (host
# key, client key, sshd configuration, pid files, the agent's socket); the system's sshd and port 22 are
# never touched. Over ssh, kiln runs `docker system dial-stdio` on the far side, which reaches the engine
# of /var/run/docker.sock there.
#
# Usage: ssh-engine.sh start|stop|env|status
#   start   install openssh-server when sshd is missing, make the keys once, start sshd and the agent
#           (nothing when they run), then print the env a client needs
#   stop    stop sshd and the agent; the keys are kept
#   env     print DOCKER_HOST=ssh://root@127.0.0.1:PORT and SSH_AUTH_SOCK=... (one per line)
#   status  exit 0 when a login with the agent's key works, 1 when not
#
# Root only (it installs a package and starts a daemon): otherwise it explains and exits 3.
#
# Environment:
#   KILN_SSH_ENGINE_PORT    loopback port (default 22220)
#   KILN_SSH_ENGINE_STATE   state folder (default /var/lib/kiln-ssh-engine)
set -euo pipefail

me=ssh-engine
root_why="run the test ssh engine (it installs Debian's openssh-server and runs an sshd)"
port=${KILN_SSH_ENGINE_PORT:-22220}
state=${KILN_SSH_ENGINE_STATE:-/var/lib/kiln-ssh-engine}
conf=$state/sshd_config
sshd_pid=$state/sshd.pid
agent_sock=$state/agent.sock
agent_pid=$state/agent.pid
key=$state/id_ed25519

# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

client_env() {
  printf 'DOCKER_HOST=ssh://root@127.0.0.1:%s\nSSH_AUTH_SOCK=%s\n' "$port" "$agent_sock"
}

answers() {
  SSH_AUTH_SOCK=$agent_sock ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -p "$port" root@127.0.0.1 true >/dev/null 2>&1
}

start() {
  need_root start "$root_why"
  if ! command -v /usr/sbin/sshd >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || fail "sshd is missing and there is no apt-get to install openssh-server."
    say "installing openssh-server"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1; } ||
      fail "could not install openssh-server."
  fi
  command -v ssh-agent >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 ||
    fail "ssh-agent and ssh-keygen are missing: apt-get install openssh-client."
  mkdir -p "$state" /run/sshd
  chmod 700 "$state"
  [[ -s $state/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$state/host_ed25519"
  [[ -s $key ]] || ssh-keygen -q -t ed25519 -N '' -C kiln-ssh-engine -f "$key"
  cat >"$conf" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $state/host_ed25519
AuthorizedKeysFile $key.pub
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $sshd_pid
EOF
  if ! live_pid "$sshd_pid" "" "$conf" >/dev/null; then
    rm -f "$sshd_pid"
    # Without the caller's output: a daemon holding it open would keep the caller waiting for its end.
    /usr/sbin/sshd -f "$conf" -E "$state/sshd.log" </dev/null >/dev/null 2>&1 ||
      fail "sshd did not start; see $state/sshd.log."
  fi
  if ! live_pid "$agent_pid" "" "$agent_sock" >/dev/null; then
    rm -f "$agent_sock"
    # The agent forks into the background: its pid is what it prints.
    ssh-agent -a "$agent_sock" -s </dev/null >"$state/agent.env" 2>/dev/null
    sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$state/agent.env" >"$agent_pid"
  fi
  SSH_AUTH_SOCK=$agent_sock ssh-add "$key" >/dev/null 2>&1 || fail "could not add the key to the agent."
  await_answers 10 || fail "a login over ssh on port $port does not work; see $state/sshd.log."
  client_env
}

stop() {
  need_root stop "$root_why"
  local pid
  if pid=$(live_pid "$sshd_pid" "" "$conf"); then kill "$pid"; fi
  if pid=$(live_pid "$agent_pid" "" "$agent_sock"); then kill "$pid"; fi
  rm -f "$sshd_pid" "$agent_pid" "$agent_sock"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) client_env ;;
  status) answers || exit 1 ;;
  *)
    say "usage: ssh-engine.sh start|stop|env|status"
    exit 2
    ;;
esac
