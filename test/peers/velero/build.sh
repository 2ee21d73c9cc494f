#!/usr/bin/env bash
# Builds the Velero server and CLI (one binary, github.com/vmware-tanzu/velero/cmd/velero v1.18.1) into $1.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
version=$(sed -n 's/^require github.com\/vmware-tanzu\/velero //p' go.mod)
# Velero stamps its version at build time; the server reports it and checks plugins against it.
ldflags="-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=${version} -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/velero" github.com/vmware-tanzu/velero/cmd/velero
echo "VELERO_BIN=$out/velero" > "$out/peer.env"
