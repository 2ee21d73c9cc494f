#!/usr/bin/env bash
# Builds the Velero plugin test client: ./build.sh OUT_DIR
# Writes OUT_DIR/velero-plugin-client and OUT_DIR/peer.env.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
cd "$here"
# -mod=readonly: go.mod/go.sum are pinned; fail rather than silently update them.
GOTOOLCHAIN=local CGO_ENABLED=0 "$go_bin" build -mod=readonly -trimpath -buildvcs=false -o "$out/velero-plugin-client" .
echo "VELERO_PLUGIN_CLIENT_BIN=$out/velero-plugin-client" > "$out/peer.env"
