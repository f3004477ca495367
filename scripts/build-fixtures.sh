#!/usr/bin/env bash
# Build kiln's fixture images from Debian packages with `docker import`; no registry is needed.
# Each image is built only when missing (pass --force to rebuild).
#
#   kiln-fixture/busybox:latest        busybox-static with every applet linked, /tmp, /etc/passwd, PATH set
#   kiln-fixture/debian-gcc:bookworm   a minimal Debian 12 (debootstrap) with gcc, libc6-dev and make
#   kiln-fixture/redis:bookworm        a minimal Debian 12 with redis-server and its client redis-cli, a real
#                                      server for a job's services (and a job that talks to it)
#
# Usage: build-fixtures.sh [--force] [busybox] [debian-gcc] [redis]   (no name: all three)
# KILN_DEBIAN_MIRROR sets the Debian mirror debootstrap reads (default: http://deb.debian.org/debian).
set -euo pipefail

force=0
images=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    busybox | debian-gcc | redis) images+=("$arg") ;;
    *)
      printf 'build-fixtures: unknown argument %s (use --force, busybox, debian-gcc, redis)\n' "$arg" >&2
      exit 2
      ;;
  esac
done
[[ ${#images[@]} -gt 0 ]] || images=(busybox debian-gcc redis)

say() { printf 'build-fixtures: %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_package() {
  local pkg=$1 probe=$2
  [[ -e $probe ]] && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "need Debian's $pkg ($probe is missing): install it (apt-get install $pkg) and run this again."
    exit 3
  fi
  say "installing Debian's $pkg..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  }
}

build_busybox() {
  local image=kiln-fixture/busybox:latest
  if [[ $force -eq 0 ]] && have_image "$image"; then return 0; fi
  ensure_package busybox-static /bin/busybox
  local root
  root=$(mktemp -d)
  trap 'rm -rf "$root"' RETURN
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,run,var/tmp,workspace,dev,proc,sys}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp /bin/busybox "$root/bin/busybox"
  # Link every applet where busybox says it lives.
  local applet
  while IFS= read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done < <("$root/bin/busybox" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nbuilder:x:1000:\n' >"$root/etc/group"
  mkdir -p "$root/home/builder" && chown 1000:1000 "$root/home/builder"
  say "importing $image"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' \
    --change 'LABEL dev.kiln.fixture=busybox' \
    - "$image" >/dev/null
}

# debootstrap_image IMAGE PACKAGES SETUP CHANGE...: a minimal Debian bookworm with PACKAGES (comma
# separated) and a /workspace, SETUP (a command given the root folder, or :) run on it, imported as IMAGE
# with PATH set and each CHANGE (a Dockerfile instruction) applied. Nothing when IMAGE exists (no --force).
debootstrap_image() {
  local image=$1 packages=$2 setup=$3
  shift 3
  if [[ $force -eq 0 ]] && have_image "$image"; then return 0; fi
  ensure_package debootstrap /usr/sbin/debootstrap
  local root change mirror=${KILN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  for change in "$@"; do changes+=(--change "$change"); done
  root=$(mktemp -d)
  trap 'rm -rf "$root"; trap - RETURN' RETURN
  say "debootstrap of Debian bookworm with ${packages//,/, } from $mirror (one time, about a minute)..."
  if ! debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1; then
    say "debootstrap failed; its log: $root.log"
    exit 3
  fi
  rm -f "$root.log"
  "$setup" "$root"
  mkdir -p "$root/workspace"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/dev/* "$root"/proc/* \
    "$root"/sys/*
  say "importing $image"
  tar -C "$root" -c . | docker import "${changes[@]}" - "$image" >/dev/null
}

# The user the tests run steps as (uid 1000).
add_builder() { chroot "$1" useradd --create-home --uid 1000 --user-group --shell /bin/sh builder; }

build_debian_gcc() {
  debootstrap_image kiln-fixture/debian-gcc:bookworm gcc,libc6-dev,make add_builder \
    'CMD ["/bin/sh"]' \
    'LABEL dev.kiln.fixture=debian-gcc'
}

# The server in the foreground, on every address, without the protected mode that refuses other hosts.
build_redis() {
  debootstrap_image kiln-fixture/redis:bookworm redis-server : \
    'EXPOSE 6379' \
    'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
    'LABEL dev.kiln.fixture=redis'
}

for name in "${images[@]}"; do
  case $name in
    busybox) build_busybox ;;
    debian-gcc) build_debian_gcc ;;
    redis) build_redis ;;
  esac
done
