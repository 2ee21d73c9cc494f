// Pins the Kubernetes API modules whose protobuf definitions twinsnap decodes etcd values with
// (`twinsnap snapshot get`, `twinsnap pairs diff`). Kubernetes 1.36.5 <-> v0.36.5. See vendor.sh.
module twinsnap.dev/kube-proto

go 1.26.0

require (
	k8s.io/api v0.36.5
	k8s.io/apiextensions-apiserver v0.36.5
	k8s.io/apimachinery v0.36.5
	k8s.io/kube-aggregator v0.36.5
)
