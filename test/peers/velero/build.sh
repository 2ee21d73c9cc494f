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
# controller-runtime's metrics server (which Velero 1.18 starts with no flag to move it) defaults to :8080 on every
# interface: on a test machine that is not loopback, and two Velero servers collide. Moved to a free loopback port.
ldflags="-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=${version} -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
ldflags="$ldflags -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=127.0.0.1:0"
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/velero" github.com/vmware-tanzu/velero/cmd/velero
echo "VELERO_BIN=$out/velero" > "$out/peer.env"
