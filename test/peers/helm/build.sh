#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3/cmd/helm) into $1, to lint and render charts/twinsnap in tests.
set -euo pipefail
out=${1:?output directory}
cd "$(dirname "$0")"
version=$(sed -n 's/^require helm.sh\/helm\/v3 //p' go.mod)
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" -o "$out/helm" helm.sh/helm/v3/cmd/helm
echo "HELM_BIN=$out/helm" > "$out/peer.env"
