#!/usr/bin/env bash
# A remote Docker engine on this host, standing in for a builder box that kiln reaches over TCP with TLS
# and that does not share this host's files ("engine C" in the tests).
#
# - It runs in a mount namespace of its own, with an empty tmpfs over /tmp (where the test projects live)
#   and over /work: a bind of a project's path on this engine shows an empty folder, as it would on
#   another machine. Everything it needs (data root, exec root, certificates, log, pid file) lives outside
#   those folders.
# - It listens on tcp://127.0.0.1:23760 with --tlsverify only (no unix socket): a CA, a server
#   certificate (SAN 127.0.0.1 and localhost) and a client certificate are made with openssl once and
#   kept under its data root.
# - It has a bridge of its own, kilnc0 (10.213.7.1/24), in the host's network namespace, so that its
#   port is reachable from this host's processes; --iptables=false and --ip-masq=false leave the host
#   engine's rules alone. Never `--bridge none` here: in the host's network namespace that deletes the
#   host engine's docker0.
#
# Usage: remote-engine.sh start|stop|purge|env|status|check-host
#   start   start it (nothing when it already answers), load the fixture images it lacks from the first
#           engine (`docker save | docker load`), then print the env a client needs
#   stop    stop it and remove its bridge; its data root (images, certificates) is kept
#   purge   stop, then delete its data root (and so its certificates)
#   env     print DOCKER_HOST=… DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=… (one per line)
#   status  exit 0 when it answers, 1 when not
#   check-host  exit 0 when the host engine's docker0 exists and a container on its bridge starts (what
#           this engine must never break), 3 when not
#
# Root only (it starts a daemon): otherwise it explains and exits 3, kiln's code for infrastructure.
#
# Environment:
#   KILN_ENGINE_C_WAIT     seconds to wait for the started daemon to answer (default 60)
#   KILN_ENGINE_C_IMAGES   images to copy from the first engine (default: kiln-fixture/busybox:latest)
#   KILN_ENGINE_C_PORT     its TCP port on 127.0.0.1 (default 23760)
set -euo pipefail

me=remote-engine
engine="the remote engine"
root_why="start or stop the remote engine (it runs a dockerd with its own data root, mount namespace and bridge)"
name=kiln-engine-c
port=${KILN_ENGINE_C_PORT:-23760}
host=tcp://127.0.0.1:$port
pid_file=/run/$name.pid
exec_root=/run/$name
data_root=/var/lib/$name
tls_dir=$data_root/tls
client_dir=$tls_dir/client
log_file=/var/log/$name.log
config_file=/var/lib/$name.json
bridge=kilnc0
bridge_cidr=10.213.7.1/24
hidden=(/tmp /work)
wait_s=${KILN_ENGINE_C_WAIT:-60}
read -r -a images <<<"${KILN_ENGINE_C_IMAGES:-kiln-fixture/busybox:latest}"

# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

client_env() {
  printf 'DOCKER_HOST=%s\nDOCKER_TLS_VERIFY=1\nDOCKER_CERT_PATH=%s\n' "$host" "$client_dir"
}

engine_docker() { DOCKER_HOST=$host DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$client_dir docker "$@"; }

answers() { [[ -r $client_dir/key.pem ]] && engine_docker info >/dev/null 2>&1; }

# The CA, the server's certificate and a client's, made once. The client's folder holds what the docker
# CLI and kiln read from DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem.
make_certs() {
  [[ -s $client_dir/key.pem && -s $tls_dir/server-key.pem ]] && return 0
  command -v openssl >/dev/null 2>&1 || fail "the remote engine needs openssl to make its certificates: apt-get install openssl."
  say "making a CA, a server and a client certificate in $tls_dir"
  rm -rf "$tls_dir"
  mkdir -p "$client_dir"
  chmod 700 "$tls_dir"
  local work
  work=$(mktemp -d)
  (
    set -e
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kiln test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kiln client" -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out cert.pem 2>/dev/null
  ) || {
    rm -rf "$work"
    fail "openssl could not make the certificates."
  }
  cp "$work/ca.pem" "$work/ca-key.pem" "$work/server-cert.pem" "$work/server-key.pem" "$tls_dir/"
  cp "$work/ca.pem" "$work/cert.pem" "$work/key.pem" "$client_dir/"
  chmod 600 "$tls_dir"/*-key.pem "$client_dir/key.pem"
  rm -rf "$work"
}

bridge_up() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$bridge_cidr" dev "$bridge"
  fi
  ip link set "$bridge" up
}

# Starts dockerd in the background (its pid is then $!).
launch() {
  dockerd_flags kiln-c
  bridge_up
  say "starting dockerd on $host in a mount namespace without ${hidden[*]} (log: $log_file)"
  # A mount namespace of its own, private, with an empty tmpfs over each hidden folder: the daemon, its
  # containerd and its containers see none of this host's projects. A UTS namespace too, so that the
  # engine names itself $name. A session of its own, so that it outlives whoever started it. setsid,
  # nohup, unshare and sh each exec the next: $! is dockerd's pid.
  setsid nohup unshare --mount --propagation private --uts -- \
    sh -c 'hostname "$0" && for d in '"${hidden[*]}"'; do mount -t tmpfs -o mode=1777 kiln-hidden "$d" || exit 1; done && exec dockerd "$@"' \
    "$name" "${dockerd_flags[@]}" \
    --tlsverify \
    --tlscacert "$tls_dir/ca.pem" \
    --tlscert "$tls_dir/server-cert.pem" \
    --tlskey "$tls_dir/server-key.pem" \
    --bridge "$bridge" \
    >"$log_file" 2>&1 </dev/null 9>&- &
}

start() {
  need_engine_tools unshare
  mkdir -p "$data_root" "$exec_root"
  make_certs
  dockerd_up launch
  load_images
  client_env
}

stop() {
  need_root stop "$root_why"
  # Its mounts die with its namespace.
  dockerd_down
  if ip link show "$bridge" >/dev/null 2>&1; then
    ip link delete "$bridge" type bridge
  fi
}

# The host engine's bridge and a container on it, after a start or a stop: this engine must never touch
# them.
check_host_engine() {
  ip link show docker0 >/dev/null 2>&1 || fail "the host engine's docker0 is gone."
  docker run --rm --network bridge kiln-fixture/busybox:latest true >/dev/null ||
    fail "a container on the host engine's bridge does not start."
  say "the host engine's docker0 is intact and its containers start"
}

case ${1:-} in
  start) lock "/run/$name.lock" && start ;;
  stop) lock "/run/$name.lock" && stop ;;
  purge)
    lock "/run/$name.lock" && stop
    # dockerd bind-mounts its data root onto itself, but in its own mount namespace, gone with it.
    rm -rf "$data_root" "$config_file" "$exec_root"
    ;;
  env) client_env ;;
  status) answers ;;
  check-host) check_host_engine ;;
  *)
    say "usage: remote-engine.sh start|stop|purge|env|status|check-host"
    exit 2
    ;;
esac
