#!/usr/bin/env bash
# The swarm runtime's test bed: three Docker engines, each in its own network namespace (and UTS
# namespace, so each has its own hostname), on one bridge, joined in one swarm (bed1 manager,
# bed2 and bed3 workers), with Debian's docker-registry on bed1. Overlay traffic between the
# engines crosses VXLAN for real. Measured recipe and this kernel's limits (no IPVS, no IPsec):
# /work/shared/reference/multi-host.md.
#
#   bash .ci/swarm-bed.sh up     # idempotent: a running bed is left as it is
#   bash .ci/swarm-bed.sh down   # idempotent: ends everything `up` started, by pid, and removes it
#   bash .ci/swarm-bed.sh env    # the variables the tests read (DOCKER_HOST of the manager, ...)
#   bash .ci/swarm-bed.sh warm   # build the default images on the manager (a cache for later builds)
#
# Everything it starts is tracked by pid under $PHPCLUSTER_BED (default /tmp/pcbed: unix socket
# paths must stay under 108 bytes). The bridge has the host address 10.77.0.1 and NAT, so that
# `docker build` on the manager reaches Debian's archive like the host does. Needs root, iptables,
# iproute2, util-linux (nsenter, unshare), docker.io and docker-registry.
set -euo pipefail

BED=${PHPCLUSTER_BED:-/tmp/pcbed}
BRIDGE=${PHPCLUSTER_BED_BRIDGE:-pcbed0}
NET=10.77.0
HOSTS=(1 2 3)
REGISTRY="$NET.11:5000"
BASE_IMAGE=${PHPCLUSTER_CI_BASE_IMAGE:-phpcluster/base:bookworm}
t0=$(date +%s)
say() { printf '[bed %4ss] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }
die() { say "$*"; exit 1; }
sock() { echo "unix://$BED/bed$1/docker.sock"; }
dk() { local h=$1; shift; docker -H "$(sock "$h")" "$@"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A rule, added once (-C checks it first), recorded so that `down` removes exactly what `up` added.
rule() {
  local table=$1; shift
  iptables -t "$table" -C "$@" 2>/dev/null && return 0
  iptables -t "$table" -I "$@"
  printf '%s\t%s\n' "$table" "$*" >>"$BED/iptables"
}

# Wait (bounded) until a command succeeds.
until_ok() {
  local what=$1 tries=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what did not come up within $((tries / 2)) s"
}

up_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for i in "${HOSTS[@]}"; do
    [ -e "/var/run/netns/bed$i" ] || ip netns add "bed$i"
    if ! ip link show "veth-bed$i" >/dev/null 2>&1; then
      ip link add "veth-bed$i" type veth peer name eth0 netns "bed$i"
      ip -n "bed$i" addr add "$NET.1$i/24" dev eth0
    fi
    ip link set "veth-bed$i" master "$BRIDGE" up
    ip -n "bed$i" link set lo up
    ip -n "bed$i" link set eth0 up
    ip -n "bed$i" route replace default via "$NET.1"
  done
  # A dockerd in the root namespace sets FORWARD to DROP and bridge-nf-call-iptables is 1: frames
  # between the veths, and the hosts' way out (for apt inside `docker build`), need their rules.
  # They go into FORWARD itself, not DOCKER-USER: that dockerd deletes and re-inserts its
  # `-j DOCKER-USER` jump whenever it makes a network (the compose e2e tests beside the swarm
  # lane do, all the time), and frames between the hosts that cross in that window are dropped.
  # Measured: with 93 `docker network create`/`rm` on the root engine, 65 of 3,311 TCP connects
  # from bed2 to bed1 got no answer within 300 ms through DOCKER-USER, 0 of 7,204 through FORWARD.
  # A lost SYN to a Memcached node ejects it for that request, and the session write goes to the
  # replica only: the next request read the older copy (the swarm lane's rolling-restart flake).
  sysctl -qw net.ipv4.ip_forward=1
  rule filter FORWARD -i "$BRIDGE" -j ACCEPT
  rule filter FORWARD -o "$BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  rule nat POSTROUTING -s "$NET.0/24" ! -o "$BRIDGE" -j MASQUERADE
}

up_engine() {
  local i=$1 dir="$BED/bed$i"
  mkdir -p "$dir"
  if alive "$dir/dockerd.pid" && dk "$i" info >/dev/null 2>&1; then return 0; fi
  say "bed$i: dockerd at $NET.1$i (log: $dir/dockerd.log)"
  # nsenter, not `ip netns exec` (which remounts /sys: dockerd then fails with "Devices cgroup
  # isn't mounted"); unshare --uts: its own hostname. setsid: it outlives this script.
  setsid nsenter --net="/var/run/netns/bed$i" unshare --uts sh -c '
    hostname "$0"; exec dockerd --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/dockerd.pid" \
      -H "unix://$1/docker.sock" --storage-driver overlay2 --insecure-registry "$2" \
      --containerd-namespace "$0" --containerd-plugins-namespace "$0-p"' \
    "bed$i" "$dir" "$REGISTRY" </dev/null >>"$dir/dockerd.log" 2>&1 &
}

up_registry() {
  local dir="$BED/registry"
  mkdir -p "$dir/data"
  if alive "$dir/pid"; then return 0; fi
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
  say "registry at $REGISTRY (log: $dir/log)"
  setsid nsenter --net=/var/run/netns/bed1 docker-registry serve "$dir/config.yml" \
    </dev/null >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
}

up_swarm() {
  if [ "$(dk 1 info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
    say "swarm init on bed1"
    dk 1 swarm init --advertise-addr "$NET.11" >/dev/null
  fi
  local token
  token=$(dk 1 swarm join-token -q worker)
  for i in 2 3; do
    if [ "$(dk "$i" info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
      say "bed$i joins the swarm"
      dk "$i" swarm join --token "$token" "$NET.11:2377" >/dev/null
    fi
  done
  until_ok "the three swarm nodes (Ready)" 60 \
    sh -c "[ \"\$(docker -H $(sock 1) node ls -f role=worker --format '{{.Status}}' | grep -c Ready)\" = 2 ]"
}

up_images() {
  # The base image the Dockerfiles are FROM (no registry outside: it comes from the root engine)
  if ! dk 1 image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "$BASE_IMAGE is missing on the root engine: run .ci/docker.sh"
    say "loading $BASE_IMAGE into bed1"
    docker save "$BASE_IMAGE" | dk 1 load >/dev/null
  fi
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "the test bed needs root"
  for p in docker-registry nsenter unshare iptables ip dockerd; do
    command -v "$p" >/dev/null || die "$p is missing (apt-get install docker.io docker-registry iproute2 iptables util-linux)"
  done
  mkdir -p "$BED"
  up_network
  for i in "${HOSTS[@]}"; do up_engine "$i"; done
  for i in "${HOSTS[@]}"; do until_ok "bed$i's dockerd" 120 dk "$i" info; done
  up_registry
  until_ok "the registry" 40 curl -fsS "http://$REGISTRY/v2/"
  up_swarm
  up_images
  say "up: swarm of 3 ($(dk 1 node ls --format '{{.Hostname}}' | tr '\n' ' ')), registry $REGISTRY"
}

stop_pid() {
  local pidfile=$1 pid
  alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
}

cmd_down() {
  # the warm-up runs in its own session (setsid): its whole process group goes, docker build included
  if alive "$BED/warm.pid"; then kill -TERM -- "-$(cat "$BED/warm.pid")" 2>/dev/null || true; fi
  for i in "${HOSTS[@]}"; do
    if alive "$BED/bed$i/dockerd.pid"; then
      dk "$i" swarm leave --force >/dev/null 2>&1 || true
      # the containers it runs end with it (live-restore is off)
      stop_pid "$BED/bed$i/dockerd.pid"
    fi
  done
  stop_pid "$BED/registry/pid"
  for i in "${HOSTS[@]}"; do
    [ -e "/var/run/netns/bed$i" ] && ip netns del "bed$i"
    ip link del "veth-bed$i" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [ -f "$BED/iptables" ]; then
    while IFS=$'\t' read -r table spec; do
      # shellcheck disable=SC2086 # the recorded rule is split into its words on purpose
      iptables -t "$table" -D $spec 2>/dev/null || true
    done <"$BED/iptables"
  fi
  if [ -d "$BED" ]; then
    # overlay mounts a killed engine left behind
    { grep -o " $BED/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$BED"
  fi
  say "down: nothing of the bed is left"
}

# Build, on the manager, the images a default swarm topology renders (after `npm ci`: it uses
# bin/phpcluster.js), so that a later build of the same Dockerfiles hits the cache.
cmd_warm() {
  local d
  d=$(mktemp -d /tmp/pcbed/warm.XXXXXX)
  mkdir -p "$d/public"
  printf 'name: warm\nruntime: swarm\nbalancer:\n  bind: 0.0.0.0\nimages:\n  base: %s\n' "$BASE_IMAGE" >"$d/phpcluster.yml"
  node "$(dirname "$0")/../bin/phpcluster.js" render -f "$d/phpcluster.yml" --runtime swarm --out "$d/out" >/dev/null
  for role in memcached lb app; do
    say "warm: building the $role image on bed1"
    DOCKER_BUILDKIT=0 dk 1 build -q "$d/out/images/$role" >/dev/null
  done
  rm -rf "$d"
  say "warm: done"
}

cmd_env() {
  cat <<EOF
export PHPCLUSTER_BED=$BED
export PHPCLUSTER_BED_MANAGER=$(sock 1)
export PHPCLUSTER_BED_ENGINES=bed1=$(sock 1),bed2=$(sock 2),bed3=$(sock 3)
export PHPCLUSTER_BED_REGISTRY=$REGISTRY
EOF
}

case "${1:-}" in
up) cmd_up ;;
warm) cmd_warm ;;
down) cmd_down ;;
env) cmd_env ;;
*) echo "usage: $0 up|down|warm|env" >&2; exit 2 ;;
esac
