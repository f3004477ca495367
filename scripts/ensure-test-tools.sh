#!/usr/bin/env bash
# Make sure the host tools kiln's tests drive are here: tmux (a real terminal for the debug shell's
# tests), openssl (certificates of the TLS remote engine), ip and unshare (the second engine's network
# and the remote engine's mount namespace). Fast and silent when they all are.
#
# Where one is missing and this runs as root with apt-get available, it installs Debian's package;
# otherwise it names the packages to install and exits 3, kiln's code for an infrastructure fault.
set -euo pipefail

say() { printf 'ensure-test-tools: %s\n' "$*" >&2; }

# command → the Debian package that has it
declare -A package_of=([tmux]=tmux [openssl]=openssl [ip]=iproute2 [unshare]=util-linux)

missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  say "the tests need Debian's ${missing[*]}: install them (sudo apt-get install ${missing[*]}) and run this again."
  exit 3
fi
say "installing ${missing[*]} (one time)..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null || {
    say "apt-get could not install ${missing[*]}; see the lines above."
    exit 3
  }
}
