#!/usr/bin/env bash
# Builds Velero's S3 object store plugin (velero-plugin-for-aws) into $1/plugins/, ready to be a plugins directory.
set -euo pipefail
out=${1:?output directory}
cd "$(dirname "$0")"
mkdir -p "$out/plugins"
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/plugins/velero-plugin-for-aws" github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws
echo "VELERO_PLUGIN_AWS_BIN=$out/plugins/velero-plugin-for-aws" > "$out/peer.env"
