#!/usr/bin/env bash
# Docker engine for the compose runtime's tests, on a Debian 12 machine as root, without systemd and
# without an image registry (see /work/shared/reference/docker-engine.md):
#   1. apt: docker.io (dockerd 20.10), docker-compose (v1) and debootstrap, when missing;
#   2. dockerd, started by hand when `docker info` fails (pidfile and log in $CI_STATE);
#   3. the base image phpcluster/base:bookworm (debootstrap minbase + `docker import`), when missing.
# Idempotent: a second run is a fast no-op. Leaves dockerd running. Run it (`bash .ci/docker.sh`)
# or source it; it only sets variables prefixed with PHPCLUSTER_CI_ / local ones in a subshell.
( # a subshell, so sourcing this file does not change the caller's options or variables
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

CI_STATE=${PHPCLUSTER_CI_STATE:-/var/lib/phpcluster-ci}
IMAGE=${PHPCLUSTER_CI_BASE_IMAGE:-phpcluster/base:bookworm}
SUITE=bookworm
t0=$(date +%s)
say() { printf '[docker %4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
mkdir -p "$CI_STATE"

# ------------------------------------------------------------------ 1. packages
PACKAGES=(docker.io docker-compose debootstrap)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -q -o DPkg::Lock::Timeout=600 >"$CI_STATE/apt.log" 2>&1 ||
    { tail -n 20 "$CI_STATE/apt.log" >&2; exit 1; }
  apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}" >>"$CI_STATE/apt.log" 2>&1 ||
    { tail -n 20 "$CI_STATE/apt.log" >&2; exit 1; }
fi

# ------------------------------------------------------------------ 2. dockerd (no systemd)
if ! docker info >/dev/null 2>&1; then
  pidfile="$CI_STATE/dockerd.pid"
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "dockerd (pid $(cat "$pidfile")) is running but does not answer yet"
  else
    say "starting dockerd (log: $CI_STATE/dockerd.log)"
    # its own session, so it outlives this script and the CI job's process group
    setsid dockerd --storage-driver=overlay2 --pidfile "$pidfile" \
      </dev/null >>"$CI_STATE/dockerd.log" 2>&1 &
  fi
  for _ in $(seq 1 120); do # bounded: 60 s
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not answer within 60 s; last lines of $CI_STATE/dockerd.log:" >&2
    tail -n 30 "$CI_STATE/dockerd.log" >&2 || true
    exit 1
  fi
fi
say "docker: server $(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})'), client $(docker version -f '{{.Client.Version}}'), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

# ------------------------------------------------------------------ 3. base image without a registry
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "base image $IMAGE present"
  exit 0
fi

# The mirror the host's apt uses: the first URIs: of the deb822 sources, else the first deb line.
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^[[:space:]]*URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  security=$(awk '/^[[:space:]]*URIs:/ && $2 ~ /debian-security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi

include=()
case "$mirror" in https:*) include=(--include=ca-certificates) ;; esac

rootfs="$CI_STATE/base-rootfs"
rm -rf "$rootfs"
say "debootstrap --variant=minbase $SUITE from $mirror (log: $CI_STATE/debootstrap.log)"
if ! debootstrap --variant=minbase "${include[@]}" "$SUITE" "$rootfs" "$mirror" >"$CI_STATE/debootstrap.log" 2>&1; then
  tail -n 30 "$CI_STATE/debootstrap.log" >&2
  rm -rf "$rootfs"
  exit 1
fi
rm -f "$rootfs"/var/cache/apt/archives/*.deb
: >"$rootfs/etc/resolv.conf"
# apt inside `docker build` uses the same archive as the host, with the same freshness rules
{
  echo "deb $mirror $SUITE main"
  echo "deb $mirror $SUITE-updates main"
  [ -n "$security" ] && echo "deb $security $SUITE-security main"
} >"$rootfs/etc/apt/sources.list"
apt-config dump 2>/dev/null |
  grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' >"$rootfs/etc/apt/apt.conf.d/99phpcluster-host" || true
[ -s "$rootfs/etc/apt/apt.conf.d/99phpcluster-host" ] || rm -f "$rootfs/etc/apt/apt.conf.d/99phpcluster-host"

say "docker import -> $IMAGE"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
rm -rf "$rootfs"
say "base image: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE")"
)
