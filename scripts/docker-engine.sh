#!/usr/bin/env bash
# Make a Docker engine and the test image available, idempotently.
#
#   bash scripts/docker-engine.sh
#
# 1. If an engine already answers `docker info`, use it.
# 2. Otherwise (root, or passwordless sudo): install docker.io with apt-get if `dockerd` is missing and start
#    `dockerd --iptables=false --ip6tables=false` in the background, logging to
#    $DISCOVER_CACHE/dockerd.log. Without iptables containers get no NAT, which is fine:
#    discover's containers run with network "none" unless an idea opts in.
# 3. Build the test image discover-test:bookworm if absent, without any registry:
#    debootstrap a minimal Debian with python3 and numpy, tar it (cached under
#    $DISCOVER_CACHE, so the next build only imports it) and `docker import` it.
#
# It always exits 0: when no engine can be started it prints one line saying why, so the
# test command goes on and the Docker tests skip with a visible reason.
set -uo pipefail

IMAGE="${DISCOVER_TEST_IMAGE:-discover-test:bookworm}"
CACHE="${DISCOVER_CACHE:-${HOME:-/root}/.cache/discover}"
TARBALL="$CACHE/discover-test-bookworm.tar"
LOG="$CACHE/dockerd.log"

say() { echo "docker-engine.sh: $*"; }
give_up() { say "$*; Docker tests will skip"; exit 0; }

engine_answers() { docker info >/dev/null 2>&1; }

# Root, or passwordless sudo (CI runners), for apt-get, dockerd and debootstrap.
ROOT=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then ROOT="sudo -n"; else ROOT="none"; fi
fi

mkdir -p "$CACHE" 2>/dev/null || CACHE="$(mktemp -d)"

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  # A failed update (offline mirror) should not stop an install from the local lists.
  $ROOT env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  $ROOT env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

if ! engine_answers; then
  [ "$ROOT" != none ] || give_up "no Docker engine answers and starting one needs root or sudo (uid $(id -u))"
  if ! command -v dockerd >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || give_up "dockerd is missing and there is no apt-get to install docker.io"
    say "installing docker.io with apt-get"
    apt_install docker.io || give_up "apt-get install docker.io failed"
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $LOG)"
    nohup $ROOT dockerd --iptables=false --ip6tables=false >"$LOG" 2>&1 </dev/null &
    disown || true
  fi
  for _ in $(seq 1 60); do
    engine_answers && break
    # Under sudo the socket is root's: let this user's docker client reach it.
    [ -z "$ROOT" ] || [ ! -S /var/run/docker.sock ] || $ROOT chmod 666 /var/run/docker.sock 2>/dev/null || true
    sleep 0.5
  done
  engine_answers || give_up "dockerd did not answer within 30 s (last log lines: $(tail -n 3 "$LOG" 2>/dev/null | tr '\n' ' '))"
fi
say "engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "image $IMAGE present"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  [ "$ROOT" != none ] || give_up "image $IMAGE is missing and debootstrap needs root or sudo"
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt-get"
    apt_install debootstrap || give_up "apt-get install debootstrap failed; image $IMAGE not built"
  fi
  # Use the mirror apt already uses (it is reachable when apt is), else Debian's default.
  MIRROR="$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
            | grep -oE 'https?://[^ ]+' | head -n1)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  ROOTFS="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  say "building $IMAGE with debootstrap from $MIRROR (about 75 s)"
  if ! $ROOT debootstrap --variant=minbase --include=python3,python3-numpy bookworm "$ROOTFS" "$MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1; then
    $ROOT rm -rf "$ROOTFS"
    give_up "debootstrap failed (see $CACHE/debootstrap.log); image $IMAGE not built"
  fi
  # apt caches are dead weight in the image.
  $ROOT sh -c "rm -rf '$ROOTFS'/var/cache/apt/archives/*.deb '$ROOTFS'/var/lib/apt/lists/*"
  # Root-owned files (setuid bits included) need root to read; the tarball itself is ours.
  $ROOT tar -C "$ROOTFS" -cf - . >"$TARBALL.part" && mv "$TARBALL.part" "$TARBALL"
  $ROOT rm -rf "$ROOTFS"
fi

say "importing $IMAGE from $TARBALL"
if docker import "$TARBALL" "$IMAGE" >/dev/null; then
  say "image $IMAGE ready"
else
  say "docker import failed; image $IMAGE not built; Docker tests will skip"
fi
exit 0
