#!/usr/bin/env bash
# End-to-end check of the peers in current.env, and the recipe for running Velero as a local process:
# control plane (etcd, kube-apiserver, kube-controller-manager) + moto + `velero server` with velero-plugin-for-aws;
# kubectl get/apply of a CRD and a custom resource, Velero's CRDs, a BackupStorageLocation that must become
# Available, a backup larger than 5 MiB (a multipart upload through the plugin), and a restore compared byte for byte.
#   scripts/peers/smoke.sh [DIR]      (DIR defaults to a new temporary directory; it is removed on success)
# Everything it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/twinsnap-smoke.XXXXXX")}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
set -a
# shellcheck disable=SC1090
. <("$here/../peers.sh" --print-env)
set +a
velero_pid=""
cleanup() {
  [ -n "$velero_pid" ] && kill "$velero_pid" 2>/dev/null && wait "$velero_pid" 2>/dev/null || true
  "$here/s3-server.sh" stop "$dir" || true
  [ -f "$dir/env" ] && "$here/control-plane.sh" stop "$dir" || true
}
trap cleanup EXIT
step() { echo "smoke: $*" >&2; }

"$here/control-plane.sh" start "$dir" --with-controller-manager
export KUBECONFIG="$dir/kubeconfig"
k() { "$KUBECTL_BIN" "$@"; }
v() { "$VELERO_BIN" --kubeconfig "$KUBECONFIG" -n velero "$@"; }
k get ns

step "CRD, then a custom resource"
k apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.twinsnap.dev}
spec:
  group: smoke.twinsnap.dev
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
k wait --for=condition=Established crd/widgets.smoke.twinsnap.dev --timeout=60s
k create namespace demo
k apply -f - <<'EOF'
apiVersion: smoke.twinsnap.dev/v1
kind: Widget
metadata: {name: w1, namespace: demo}
spec: {size: 3}
EOF

step "Velero CRDs and client"
"$VELERO_BIN" install --crds-only --dry-run -o yaml | k apply -f - >/dev/null
"$VELERO_BIN" version --client-only

step "S3 server and velero server"
"$here/s3-server.sh" start "$dir" --bucket velero
# shellcheck disable=SC1091
. "$dir/s3.env"
k create namespace velero
# Velero's built-in pod-volume-restore action reads the image of Deployment velero/velero and fails every restore
# without it (`deployments.apps "velero" not found`). With no kubelet its Pods never run, so a placeholder does.
k -n velero create deployment velero --image=velero/velero:v1.18.1 --replicas=0
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AWS_SHARED_CREDENTIALS_FILE="$dir/s3-credentials" nohup "$VELERO_BIN" server --kubeconfig "$KUBECONFIG" --namespace velero \
  --plugin-dir "$(dirname "$VELERO_PLUGIN_AWS_BIN")" --metrics-address "127.0.0.1:$(port)" \
  --profiler-address "127.0.0.1:$(port)" > "$dir/velero.log" 2>&1 < /dev/null &
velero_pid=$!
v backup-location create default --default --provider aws --bucket velero --prefix smoke \
  --config "region=us-east-1,s3ForcePathStyle=true,s3Url=$S3_URL"
for _ in $(seq 120); do
  [ "$(k -n velero get bsl default -o jsonpath='{.status.phase}')" = Available ] && break
  kill -0 "$velero_pid" || { tail -n 20 "$dir/velero.log" >&2; exit 1; }
  sleep 0.5
done
[ "$(k -n velero get bsl default -o jsonpath='{.status.phase}')" = Available ] || { echo "smoke: BSL not Available" >&2; exit 1; }

step "backup of 8 MiB of random ConfigMaps (multipart upload), delete, restore"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  head -c 700000 /dev/urandom | base64 -w0 > "$dir/blob"
  k -n demo create configmap "big-$i" --from-file=blob="$dir/blob" >/dev/null
done
k -n demo get configmaps,widgets -o json | python3 -c 'import json,sys; print(json.dumps(sorted((i["kind"], i["metadata"]["name"], i.get("data"), i.get("spec")) for i in json.load(sys.stdin)["items"] if i["metadata"]["name"] != "kube-root-ca.crt")))' | sha256sum > "$dir/before.sha"
v backup create b1 --include-namespaces demo --snapshot-volumes=false --wait
[ "$(k -n velero get backup b1 -o jsonpath='{.status.phase}')" = Completed ] || { v backup describe b1 --details >&2; exit 1; }
grep -q 'b1.tar.gz?uploadId=' "$dir/s3.log" || { echo "smoke: the backup was not a multipart upload" >&2; exit 1; }
k delete namespace demo --wait=true --timeout=120s
v restore create r1 --from-backup b1 --wait
[ "$(k -n velero get restore r1 -o jsonpath='{.status.phase}')" = Completed ] || { v restore describe r1 >&2; exit 1; }
k -n demo get configmaps,widgets -o json | python3 -c 'import json,sys; print(json.dumps(sorted((i["kind"], i["metadata"]["name"], i.get("data"), i.get("spec")) for i in json.load(sys.stdin)["items"] if i["metadata"]["name"] != "kube-root-ca.crt")))' | sha256sum | diff - "$dir/before.sha"
step "ok: restored objects are identical"
cleanup
trap - EXIT
[ -n "${1:-}" ] || rm -rf "$dir"
