#!/usr/bin/env bash
# Regenerates go.mod and go.sum for another k8s.io/kubernetes release, in one command:
#   ./gen-go-mod.sh 1.36.5
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, apiserver, client-go, ...; the set changes between
# minor releases) with local paths, so it cannot be required as is: this wrapper replaces each of them, as listed in
# that release's own go.mod, with its published twin k8s.io/<name> v0.<minor>.<patch>, then runs go mod tidy
# (tools.go keeps the three commands' packages in the module graph).
set -euo pipefail
cd "$(dirname "$0")"
version=${1:?kubernetes version, e.g. 1.36.5}
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "gen-go-mod.sh: Go is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
gomod=$(go mod download -json "k8s.io/kubernetes@v${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -n "$gomod" ] || { echo "gen-go-mod.sh: the module proxy does not serve k8s.io/kubernetes@v${version}" >&2; exit 1; }
{
  echo "module twinsnap.dev/peers/kubernetes"
  echo
  echo "go $(sed -n 's/^go //p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes v${version}"
  echo
  echo "replace ("
  grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk -v v="v0.${version#1.}" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} > go.mod
rm -f go.sum
go mod tidy
echo "gen-go-mod.sh: go.mod and go.sum now build k8s.io/kubernetes v${version} ($(grep -c '=> k8s.io/' go.mod) staging modules replaced)" >&2
