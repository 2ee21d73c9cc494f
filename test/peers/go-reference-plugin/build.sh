#!/usr/bin/env bash
# Builds the Go reference plugin (a BackupItemAction v2 on Velero v1.18.1's framework) for bench/plugin-execute.ts: ./build.sh OUT_DIR
# Writes OUT_DIR/go-reference-plugin and OUT_DIR/peer.env.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
cd "$here"
# -mod=readonly: go.mod/go.sum are pinned; fail rather than silently update them.
GOTOOLCHAIN=local CGO_ENABLED=0 "$go_bin" build -mod=readonly -trimpath -buildvcs=false -o "$out/go-reference-plugin" .
echo "GO_REFERENCE_PLUGIN_BIN=$out/go-reference-plugin" > "$out/peer.env"
