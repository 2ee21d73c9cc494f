#!/usr/bin/env bash
# Builds the Velero server and CLI (one binary, github.com/vmware-tanzu/velero/cmd/velero v1.18.1) into $1.
set -euo pipefail
out=${1:?output directory}
cd "$(dirname "$0")"
version=$(sed -n 's/^require github.com\/vmware-tanzu\/velero //p' go.mod)
# Velero stamps its version at build time; the server reports it and checks plugins against it.
ldflags="-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=${version} -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/velero" github.com/vmware-tanzu/velero/cmd/velero
echo "VELERO_BIN=$out/velero" > "$out/peer.env"
