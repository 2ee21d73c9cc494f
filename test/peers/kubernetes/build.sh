#!/usr/bin/env bash
# Builds the control plane (kube-apiserver, kube-controller-manager, kubectl) and the node (kubelet, kube-scheduler,
# kube-proxy) from k8s.io/kubernetes into $1.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.26 is needed: not on PATH nor in /usr/local/go/bin" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0   # no toolchain downloads; static binaries
version=$(sed -n 's/^require k8s.io\/kubernetes v//p' go.mod)
minor=$(echo "$version" | cut -d. -f2)
# Stamp the version the way Kubernetes' own build does: clients (Velero, kubectl) read it from /version.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=v${version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
done
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
cat > "$out/peer.env" <<ENV
KUBE_APISERVER_BIN=$out/kube-apiserver
KUBE_CONTROLLER_MANAGER_BIN=$out/kube-controller-manager
KUBECTL_BIN=$out/kubectl
KUBELET_BIN=$out/kubelet
KUBE_SCHEDULER_BIN=$out/kube-scheduler
KUBE_PROXY_BIN=$out/kube-proxy
ENV
