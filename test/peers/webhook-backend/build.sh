#!/usr/bin/env bash
# Builds the admission webhook backend of the real-node tests (main.go, standard library only) into $1.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/webhook-backend" .
echo "WEBHOOK_BACKEND_BIN=$out/webhook-backend" > "$out/peer.env"
