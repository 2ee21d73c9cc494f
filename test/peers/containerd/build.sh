#!/usr/bin/env bash
# Builds containerd 2 (github.com/containerd/containerd/v2: containerd, containerd-shim-runc-v2, ctr) into $1, the
# container runtime of the real-node tests. containerd's own go.mod has exclude lines, so `go install pkg@version`
# refuses it; as a dependency of this wrapper module it builds. Static (no cgo); the snapshotters that need cgo or
# kernel tooling (btrfs, devmapper, zfs) are left out: the node uses overlayfs (or native).
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
version=$(sed -n 's/^require github.com\/containerd\/containerd\/v2 //p' go.mod)
# containerd reports its version over the version API (kubelet logs it as the runtime version).
ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${version} -X github.com/containerd/containerd/v2/version.Revision=${version}"
tags="no_btrfs no_devmapper no_zfs"
go build -mod=readonly -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr
cat > "$out/peer.env" <<ENV
CONTAINERD_BIN=$out/containerd
CONTAINERD_SHIM_BIN=$out/containerd-shim-runc-v2
CTR_BIN=$out/ctr
ENV
