#!/usr/bin/env bash
# Builds the real peers the tests talk to (test/peers/<name>/: etcd, Kubernetes, Velero, ...) from Go modules,
# only when missing, into a cache outside the repository keyed by each peer's pinned go.mod, go.sum and sources;
# installs the S3 server (moto, scripts/peers/s3-server.sh) the same way. Writes
# ${TWINSNAP_CACHE:-~/.cache/twinsnap}/peers/current.env with the binaries' paths (read by test/support/peers.ts).
#   scripts/peers.sh                     build/install what is missing (every test/peers/*/build.sh, and s3-server)
#   scripts/peers.sh etcd kubernetes     only these (s3-server is a name too)
#   scripts/peers.sh --print-env         print current.env (source it: set -a; . <(scripts/peers.sh --print-env))
#   scripts/peers.sh --prune             remove cached builds of test/peers/* that the current sources no longer name
# Each test/peers/<name>/build.sh OUT_DIR builds into OUT_DIR and writes OUT_DIR/peer.env (NAME_BIN=path lines).
# Safe to rerun and to run concurrently: a build goes to a temporary directory, is renamed into place and marked
# .complete; a per-peer lock keeps two runs from building the same peer at once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TWINSNAP_CACHE:-$HOME/.cache/twinsnap}/peers"
mkdir -p "$cache"

if [ "${1:-}" = "--print-env" ]; then
  [ -f "$cache/current.env" ] || { echo "peers: no $cache/current.env yet: run scripts/peers.sh" >&2; exit 1; }
  cat "$cache/current.env"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"
  else echo "peers: Go is needed to build the test peers (etcd, kube-apiserver, Velero) and is not installed; install Go >= 1.26 (https://go.dev/dl) or put it on PATH" >&2; exit 1; fi
fi
export GOTOOLCHAIN=local   # no toolchain downloads: the pinned go directives are <= the installed Go
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

prune=false
if [ "${1:-}" = "--prune" ]; then prune=true; shift; fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in "$root"/test/peers/*/; do [ -x "$d/build.sh" ] && names+=("$(basename "$d")"); done
  names+=(s3-server)
fi

key_of() { # what a build depends on: the peer's go.mod, go.sum, build scripts and Go sources, and the Go version
  (cd "$root/test/peers/$1" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' \) -print0 | sort -z | xargs -0 sha256sum; go version) | sha256sum | cut -c1-16
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

usable() { # a complete build whose peer.env names binaries that are all there (a damaged cache is rebuilt)
  local target=$1 line path
  [ -f "$target/.complete" ] && [ -s "$target/peer.env" ] || return 1
  while IFS= read -r line; do
    path=${line#*=}
    [ -x "$path" ] || return 1
  done < "$target/peer.env"
}

build_one() { # name: build test/peers/<name> into $cache/<name>-<key> unless it is there
  local name=$1 dir="$root/test/peers/$1" target tmp started
  [ -x "$dir/build.sh" ] || { echo "peers: no executable test/peers/$name/build.sh" >&2; return 1; }
  target="$cache/$name-$(key_of "$name")"
  started=$(now)
  if usable "$target"; then
    echo "peers: $name: reusing $target ($(since "$started"))" >&2
    return 0
  fi
  exec {lock}>"$cache/.$name.lock"
  if command -v flock >/dev/null 2>&1; then flock "$lock"; fi
  if usable "$target"; then # another run built it while we waited
    echo "peers: $name: reusing $target, built by a concurrent run ($(since "$started"))" >&2
    exec {lock}>&-
    return 0
  fi
  echo "peers: $name: building into $target (first time only; cached afterwards)..." >&2
  tmp="$target.tmp-$$"
  rm -rf "$tmp" "$tmp.log"
  mkdir -p "$tmp"
  if ! "$dir/build.sh" "$tmp" > "$tmp.log" 2>&1; then
    echo "peers: $name: build failed after $(since "$started"); last lines of $tmp.log:" >&2
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  # peer.env lines name the temporary directory; point them at the final one.
  touch "$tmp/peer.env"
  sed -i "s#$tmp#$target#g" "$tmp/peer.env"
  mv "$tmp.log" "$tmp/build.log"
  rm -rf "$target"
  mv "$tmp" "$target"
  touch "$target/.complete"
  exec {lock}>&-
  echo "peers: $name: built in $(since "$started")" >&2
}

build_lane() { # names, one after the other
  local name started
  for name in "$@"; do
    if [ "$name" = "s3-server" ]; then
      started=$(now)
      "$root/scripts/peers/s3-server.sh" install >/dev/null
      echo "peers: s3-server: ready ($(since "$started"))" >&2
    else
      build_one "$name"
    fi
  done
}

# Two lanes at once: a cold Go build spends much of its time in single-threaded steps (module downloads, linking
# large binaries), so two builds side by side finish a cold cache in about two thirds of the time on 2 cores.
# Kubernetes, the longest, has a lane nearly to itself. A warm cache only reuses, in well under a second.
lane_a=() lane_b=()
for name in "${names[@]}"; do
  case $name in kubernetes|containerd) lane_a+=("$name") ;; *) lane_b+=("$name") ;; esac
done
build_lane "${lane_a[@]}" & pid_a=$!
build_lane "${lane_b[@]}" & pid_b=$!
failed=0
wait "$pid_a" || failed=1
wait "$pid_b" || failed=1
[ "$failed" = 0 ] || { echo "peers: a build failed (see above)" >&2; exit 1; }

if $prune; then # only names that have a test/peers directory: other checkouts may share the cache
  for d in "$root"/test/peers/*/; do
    name=$(basename "$d")
    keep="$cache/$name-$(key_of "$name")"
    for old in "$cache/$name"-*; do
      [[ -d "$old" && "$old" != "$keep" && "$(basename "$old")" =~ ^$name-[0-9a-f]{16}$ ]] || continue
      echo "peers: pruning $old" >&2
      rm -rf "$old"
    done
  done
fi

# current.env: every peer's complete build for the current sources, for the names present in the repository.
{
  for d in "$root"/test/peers/*/; do
    name=$(basename "$d")
    [ -x "$d/build.sh" ] || continue
    target="$cache/$name-$(key_of "$name")"
    usable "$target" && cat "$target/peer.env"
  done
  "$root/scripts/peers/s3-server.sh" env 2>/dev/null || true
} > "$cache/current.env.tmp-$$"
mv "$cache/current.env.tmp-$$" "$cache/current.env"
echo "peers: wrote $cache/current.env" >&2
