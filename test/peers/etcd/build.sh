#!/usr/bin/env bash
# Builds etcd, etcdutl and etcdctl (go.etcd.io/etcd v3.6) into $1. Their own go.mod files replace sibling
# modules with local paths; as dependencies of this wrapper those replaces do not apply, the published
# modules are used.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
version=$(sed -n 's/^\tgo.etcd.io\/etcd\/server\/v3 v//p' go.mod)
ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${version}"
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/etcd" go.etcd.io/etcd/server/v3
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/" go.etcd.io/etcd/etcdutl/v3 go.etcd.io/etcd/etcdctl/v3
cat > "$out/peer.env" <<ENV
ETCD_BIN=$out/etcd
ETCDUTL_BIN=$out/etcdutl
ETCDCTL_BIN=$out/etcdctl
ENV
