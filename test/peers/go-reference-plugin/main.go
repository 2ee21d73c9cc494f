// go-reference-plugin is the yardstick for twinsnap's plugin speed: a BackupItemAction v2 written the way Velero's
// own plugins are (Velero v1.18.1's plugin framework, go-plugin, logrus), doing a strip comparable to twinsnap's
// backup stage: server-managed metadata, status that controllers recompute, and allocated clusterIPs. It is not
// a product: bench/plugin-execute.ts drives it and twinsnap through the same harness so the ratio is measured
// side by side.
//
// Registered as reference.twinsnap.dev/strip (BackupItemActionV2).
package main

import (
	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	api "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
)

func main() {
	framework.NewServer().
		RegisterBackupItemActionV2("reference.twinsnap.dev/strip", func(log logrus.FieldLogger) (interface{}, error) {
			return &stripAction{log: log}, nil
		}).
		Serve()
}

type stripAction struct{ log logrus.FieldLogger }

func (a *stripAction) Name() string { return "reference.twinsnap.dev/strip" }

func (a *stripAction) AppliesTo() (velero.ResourceSelector, error) {
	return velero.ResourceSelector{IncludedResources: []string{"*"}}, nil
}

// Metadata the source apiserver assigned; Velero's restore needs none of it.
var serverManaged = [][]string{
	{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "selfLink"},
	{"metadata", "annotations", "deployment.kubernetes.io/revision"},
}

// Kinds whose status a controller recomputes (Pod, Job, PV and PVC status is read by Velero's restore: kept).
var recomputedStatus = map[string]bool{
	"Deployment": true, "ReplicaSet": true, "StatefulSet": true, "DaemonSet": true,
	"Service": true, "HorizontalPodAutoscaler": true, "Namespace": true, "ReplicationController": true,
}

func (a *stripAction) Execute(item runtime.Unstructured, backup *api.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, string, []velero.ResourceIdentifier, error) {
	obj := item.UnstructuredContent()
	for _, path := range serverManaged {
		unstructured.RemoveNestedField(obj, path...)
	}
	kind, _, _ := unstructured.NestedString(obj, "kind")
	if recomputedStatus[kind] {
		unstructured.RemoveNestedField(obj, "status")
	}
	if kind == "Service" {
		if ip, _, _ := unstructured.NestedString(obj, "spec", "clusterIP"); ip != "None" {
			unstructured.RemoveNestedField(obj, "spec", "clusterIP")
			unstructured.RemoveNestedField(obj, "spec", "clusterIPs")
		}
	}
	return &unstructured.Unstructured{Object: obj}, nil, "", nil, nil
}

func (a *stripAction) Progress(operationID string, backup *api.Backup) (velero.OperationProgress, error) {
	return velero.OperationProgress{}, nil
}

func (a *stripAction) Cancel(operationID string, backup *api.Backup) error { return nil }
