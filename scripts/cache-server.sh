#!/usr/bin/env bash
# A real HTTP cache server for the tests of kiln's shared job cache: Debian's nginx serving a folder on a
# loopback port, with WebDAV PUT and DELETE, as a team would run one for its CI machines. Everything it
# uses lives under its own state folder (configuration, pid file, logs, temp files, the served folder);
# the system's nginx configuration and port 80 are never touched.
#
# Usage: cache-server.sh start|stop|url|dir|status|fault 500|slow|off
#   start      install Debian's nginx-light when nginx is missing, then start the server; when it runs
#              already, apply the current KILN_TEST_CACHE_TOKEN and reload it. Either way it then serves
#              normally (no fault). Prints its URL.
#   stop       stop it at once (open transfers are cut, as when a server goes away mid-run)
#   url        print http://127.0.0.1:PORT
#   dir        print the served folder (PUT /ac/k writes DIR/ac/k); STATE/access.log has one line a
#              request: METHOD PATH STATUS BYTES_SENT BYTES_RECEIVED
#   status     exit 0 when it answers, 1 when not
#   fault 500  answer every request with 500 (a broken server); `fault on` is the same
#   fault slow send response bodies at KILN_TEST_CACHE_RATE bytes a second (default 64k, nginx units)
#   fault off  serve normally again
#              Each fault change reloads nginx and returns once the old workers are gone (requests they
#              were serving are finished first, for at most 2s).
#
# Environment:
#   KILN_TEST_CACHE_PORT    loopback port (default 18080)
#   KILN_TEST_CACHE_STATE   state folder (default /var/lib/kiln-cache-server)
#   KILN_TEST_CACHE_TOKEN   at start: when set, every request must carry `Authorization: Bearer TOKEN`
#                           or is refused with 401; when unset, none is asked for
#   KILN_TEST_CACHE_RATE    at `fault slow`: the rate (default 64k)
#
# Root only (it installs a package and starts a daemon): otherwise it explains and exits 3.
set -euo pipefail

me=cache-server
root_why="run the test cache server (it installs Debian's nginx-light and runs it as a daemon)"
port=${KILN_TEST_CACHE_PORT:-18080}
state=${KILN_TEST_CACHE_STATE:-/var/lib/kiln-cache-server}
conf=$state/nginx.conf
pid_file=$state/nginx.pid
error_log=$state/error.log
data=$state/data
url=http://127.0.0.1:$port

# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

# The master's pid when our nginx runs: the pid file names an nginx started with our configuration.
master_pid() { live_pid "$pid_file" nginx "-c $conf "; }

ours() { pid_is "$1" nginx "-c $conf "; }

# Our master when its pid file is lost or wrong: the nginx whose command line names our configuration.
find_master() {
  local pid
  for pid in $(pgrep -x nginx || true); do
    if ours "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

answers() { curl -s -o /dev/null --max-time 2 "$url/" 2>/dev/null; }

ensure_nginx() {
  if ! command -v nginx >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
      fail "nginx is not installed and apt-get is not available: install nginx (with its dav module), then run this again."
    say "installing Debian's nginx-light (one time)..."
    # The package would start the system's nginx on port 80: a policy forbids it for the install.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local ok=1
    apt-get install -y -qq nginx-light >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light >/dev/null
    } || ok=0
    [[ $made_policy -eq 1 ]] && rm -f "$policy"
    [[ $ok -eq 1 ]] || fail "apt-get could not install nginx-light; run 'apt-get install nginx-light' to see why."
  fi
  nginx -V 2>&1 | grep -q -- --with-http_dav_module ||
    fail "this nginx has no WebDAV module (nginx -V lacks --with-http_dav_module): install Debian's nginx-light."
}

# The token check and the fault switch are files the configuration includes, so that both can change with
# a reload.
write_auth() {
  local token=${KILN_TEST_CACHE_TOKEN:-}
  if [[ -z $token ]]; then
    printf '# no token asked for\n' >"$state/auth.conf"
    return 0
  fi
  [[ $token =~ ^[A-Za-z0-9._~+/=-]+$ ]] || {
    say "KILN_TEST_CACHE_TOKEN may hold only letters, digits and ._~+/=- (it goes into nginx's configuration)."
    exit 2
  }
  printf 'if ($http_authorization != "Bearer %s") { return 401; }\n' "$token" >"$state/auth.conf"
}

write_fault() {
  case $1 in
    on | 500) printf 'return 500;\n' >"$state/fault.conf" ;;
    slow) printf 'limit_rate %s;\n' "${KILN_TEST_CACHE_RATE:-64k}" >"$state/fault.conf" ;;
    *) printf '# serving\n' >"$state/fault.conf" ;;
  esac
}

write_conf() {
  mkdir -p "$state/tmp" "$data"
  chown www-data:www-data "$data" "$state/tmp"
  write_fault off
  write_auth
  cat >"$conf" <<EOF
# The test cache server of kiln (scripts/cache-server.sh); generated at each start.
user www-data www-data;
worker_processes 1;
worker_shutdown_timeout 2s;
pid $pid_file;
error_log $error_log warn;

events {
  worker_connections 256;
}

http {
  # One line a request, for tests to read: method, path, status, bytes sent, bytes received.
  log_format kiln '\$request_method \$uri \$status \$body_bytes_sent \$request_length';
  access_log $state/access.log kiln;
  client_body_temp_path $state/tmp/body;
  proxy_temp_path $state/tmp/proxy;
  fastcgi_temp_path $state/tmp/fastcgi;
  uwsgi_temp_path $state/tmp/uwsgi;
  scgi_temp_path $state/tmp/scgi;
  default_type application/octet-stream;
  sendfile on;

  server {
    listen 127.0.0.1:$port;
    root $data;
    client_max_body_size 0;
    include $state/auth.conf;
    include $state/fault.conf;

    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
EOF
  nginx -t -q -c "$conf" -e "$error_log" 2>&1 >/dev/null | sed 's/^/  /' >&2
  [[ ${PIPESTATUS[0]} -eq 0 ]] || fail "nginx refused its configuration ($conf); see the lines above."
}

# Reloads and returns once the workers of the old configuration are gone, so that every request made
# afterwards is answered by the new one (old workers finish open requests, for at most
# worker_shutdown_timeout).
reload() {
  local pid=$1 old i gone
  old=$(pgrep -P "$pid" || true)
  nginx -c "$conf" -e "$error_log" -s reload || fail "nginx (pid $pid) did not take the reload; see $error_log."
  for ((i = 0; i < 40; i++)); do
    gone=1
    for w in $old; do
      if kill -0 "$w" 2>/dev/null; then gone=0; fi
    done
    [[ $gone -eq 1 ]] && return 0
    sleep 0.1
  done
  fail "nginx (pid $pid) kept its old workers for 4s after a reload; see $error_log."
}

# The nginx workers that listen on our port with no master (their master was killed with SIGKILL, so
# they were handed to init and keep the port): ended, and true when there were some.
end_orphan_workers() {
  local pid found=1
  for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]] || continue
    [[ $(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null) == 1 ]] || continue
    kill -KILL "$pid" 2>/dev/null && found=0
  done
  [[ $found -eq 0 ]] || return 1
  local i
  for ((i = 0; i < 20; i++)); do
    answers || return 0
    sleep 0.25
  done
}

start() {
  need_root start "$root_why"
  ensure_nginx
  mkdir -p "$state"
  local pid
  if ! pid=$(master_pid); then
    if pid=$(find_master); then
      say "nginx (pid $pid) runs with a lost or wrong pid file; rewriting it"
      printf '%s\n' "$pid" >"$pid_file"
    elif [[ -e $pid_file ]]; then
      say "removing a stale pid file ($pid_file)"
      rm -f "$pid_file"
    fi
  fi
  write_conf
  if pid=$(master_pid); then
    reload "$pid"
  else
    if answers && end_orphan_workers; then
      say "stopped nginx workers left listening at $url by a master that was killed"
    fi
    if answers; then
      fail "something else answers at $url: stop it, or choose another port with KILN_TEST_CACHE_PORT."
    fi
    # nginx returns once its master has bound the port and gone to the background.
    nginx -c "$conf" -e "$error_log" 9>&- ||
      fail "nginx did not start; see the lines above and $error_log."
    await_answers 10 || fail "nginx started but does not answer at $url; see $error_log."
  fi
  printf '%s\n' "$url"
}

stop() {
  need_root stop "$root_why"
  local pid
  pid=$(master_pid) || pid=$(find_master) || {
    rm -f "$pid_file"
    return 0
  }
  # A fast stop (TERM): open transfers are cut.
  end_pid "$pid" 10
  rm -f "$pid_file"
}

fault() {
  need_root fault "$root_why"
  case ${1:-} in
    on | 500 | slow | off) ;;
    *)
      say "usage: cache-server.sh fault 500|slow|off"
      exit 2
      ;;
  esac
  mkdir -p "$state"
  write_fault "$1"
  local pid
  if pid=$(master_pid); then reload "$pid"; fi
}

case ${1:-} in
  start) lock "$state/lock" && start ;;
  stop) lock "$state/lock" && stop ;;
  url) printf '%s\n' "$url" ;;
  dir) printf '%s\n' "$data" ;;
  status) master_pid >/dev/null && answers ;;
  fault) lock "$state/lock" && fault "${2:-}" ;;
  *)
    say "usage: cache-server.sh start|stop|url|dir|status|fault 500|slow|off"
    exit 2
    ;;
esac
