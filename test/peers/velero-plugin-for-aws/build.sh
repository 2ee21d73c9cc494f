#!/usr/bin/env bash
# Builds Velero's S3 object store plugin (velero-plugin-for-aws) into $1/plugins/, ready to be a plugins directory.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
mkdir -p "$out/plugins"
go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/plugins/velero-plugin-for-aws" github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws
echo "VELERO_PLUGIN_AWS_BIN=$out/plugins/velero-plugin-for-aws" > "$out/peer.env"
