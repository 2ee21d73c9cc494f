#!/usr/bin/env bash
# Regenerates go.mod for another k8s.io/kubernetes release: k8s.io/kubernetes replaces its staging modules with
# local paths, so this wrapper replaces each with its published twin k8s.io/<name> v0.<minor>.<patch>.
# Usage: ./gen-go-mod.sh 1.36.3 && go mod tidy
set -euo pipefail
cd "$(dirname "$0")"
version=${1:?kubernetes version, e.g. 1.36.3}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
gomod=$(go mod download -json "k8s.io/kubernetes@v${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
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
