#!/usr/bin/env bash
# Builds the real peers the tests talk to (test/peers/<name>/: etcd, Kubernetes, Velero, ...) from Go modules,
# only when missing, into a cache outside the repository keyed by each peer's pinned go.mod, go.sum and sources.
# Writes $TWINSNAP_CACHE/peers/current.env with the binaries' paths (read by test/support/peers.ts).
#   scripts/peers.sh                 build what is missing
#   scripts/peers.sh etcd kubernetes only these
#   scripts/peers.sh --print-env     print current.env
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TWINSNAP_CACHE:-$HOME/.cache/twinsnap}/peers"
mkdir -p "$cache"

if [ "${1:-}" = "--print-env" ]; then cat "$cache/current.env"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"
  else echo "peers: Go is needed to build the test peers (etcd, kube-apiserver, Velero) and is not installed; install Go >= 1.26 (https://go.dev/dl) or put it on PATH" >&2; exit 1; fi
fi
export GOTOOLCHAIN=local   # no toolchain downloads: the pinned go directives are <= the installed Go
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in "$root"/test/peers/*/; do [ -x "$d/build.sh" ] && names+=("$(basename "$d")"); done
fi

key_of() { # what the build depends on: every file in the peer's directory
  (cd "$root/test/peers/$1" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' \) -print0 | sort -z | xargs -0 sha256sum; go version) | sha256sum | cut -c1-16
}

for name in "${names[@]}"; do
  dir="$root/test/peers/$name"
  [ -x "$dir/build.sh" ] || { echo "peers: no test/peers/$name/build.sh" >&2; exit 1; }
  target="$cache/$name-$(key_of "$name")"
  if [ -f "$target/.complete" ]; then
    echo "peers: $name: cached ($target)" >&2
    continue
  fi
  echo "peers: $name: building (first time only; cached afterwards)..." >&2
  tmp="$target.tmp-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  started=$(date +%s)
  if ! "$dir/build.sh" "$tmp" > "$tmp.log" 2>&1; then
    echo "peers: $name: build failed; last lines of $tmp.log:" >&2
    tail -n 30 "$tmp.log" >&2
    exit 1
  fi
  # peer.env lines name the temporary directory; point them at the final one.
  sed -i "s#$tmp#$target#g" "$tmp/peer.env"
  touch "$tmp/.complete"
  rm -rf "$target"
  mv "$tmp" "$target"
  mv "$tmp.log" "$target/build.log"
  echo "peers: $name: built in $(( $(date +%s) - started )) s" >&2
done

# current.env: every peer's newest complete build, for the names present in the repository.
{
  for d in "$root"/test/peers/*/; do
    name=$(basename "$d")
    target="$cache/$name-$(key_of "$name")"
    [ -f "$target/.complete" ] && cat "$target/peer.env"
  done
} > "$cache/current.env.tmp"
mv "$cache/current.env.tmp" "$cache/current.env"
