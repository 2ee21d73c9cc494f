package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	biav1 "github.com/vmware-tanzu/velero/pkg/plugin/velero/backupitemaction/v1"
	biav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/backupitemaction/v2"
	riav1 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v1"
	riav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v2"
)

type client struct {
	registry process.Registry
	manager  clientmgmt.Manager
	forced   *forcedKillHook
}

// call is one script entry; fields unused by an op are ignored.
type call struct {
	Op              string            `json:"op"`
	Kind            string            `json:"kind"`
	Name            string            `json:"name"`
	Item            map[string]any    `json:"item"`
	ItemFromBackup  map[string]any    `json:"itemFromBackup"`
	Backup          *velerov1.Backup  `json:"backup"`
	Restore         *velerov1.Restore `json:"restore"`
	OperationID     string            `json:"operationID"`
	AdditionalItems []resourceID      `json:"additionalItems"`
	SettleMs        *int              `json:"settleMs"` // killProcess: wait after the process is reaped
}

// resourceID is velero.ResourceIdentifier with lowerCamel JSON names.
type resourceID struct {
	Group     string `json:"group"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (c *client) run(raw json.RawMessage) result {
	var in call
	if err := json.Unmarshal(raw, &in); err != nil {
		var head struct{ Op string }
		_ = json.Unmarshal(raw, &head) // best effort, to label the result
		return result{"op": head.Op}.done(fmt.Errorf("parse call: %w", err))
	}
	r := result{"op": in.Op}
	if in.Kind != "" {
		r["kind"], r["name"] = in.Kind, in.Name
	}
	// Velero never passes a nil Backup/Restore or ItemFromBackup; default them.
	if in.Backup == nil {
		in.Backup = &velerov1.Backup{}
	}
	if in.Restore == nil {
		in.Restore = &velerov1.Restore{}
	}
	if in.ItemFromBackup == nil {
		in.ItemFromBackup = in.Item
	}
	var err error
	switch in.Op {
	case "list":
		r["plugins"] = c.list()
	case "appliesTo":
		err = c.appliesTo(in, r)
	case "execute":
		err = c.execute(in, r)
	case "ready":
		err = c.ready(in, r)
	case "progress", "cancel":
		err = c.progressOrCancel(in, r)
	case "kill":
		return c.cleanup("kill")
	case "killProcess":
		err = killChildren(in.SettleMs, r)
	default:
		err = fmt.Errorf("unknown op %q", in.Op)
	}
	return r.done(err)
}

// list reports registry.List for every kind. Note: v1 BIA/RIA plugins are also
// listed under the V2 kinds (with their own v1 "kind" field).
func (c *client) list() map[string][]map[string]string {
	out := map[string][]map[string]string{}
	for _, k := range kinds {
		out[string(k)] = []map[string]string{}
		for _, id := range c.registry.List(k) {
			out[string(k)] = append(out[string(k)], map[string]string{
				"kind": string(id.Kind), "name": id.Name, "command": id.Command,
			})
		}
	}
	return out
}

// action gets the restartable plugin for kind/name through the manager.
func (c *client) action(kind, name string) (any, error) {
	m := c.manager
	switch common.PluginKind(kind) {
	case common.PluginKindBackupItemAction:
		return m.GetBackupItemAction(name)
	case common.PluginKindBackupItemActionV2:
		return m.GetBackupItemActionV2(name)
	case common.PluginKindRestoreItemAction:
		return m.GetRestoreItemAction(name)
	case common.PluginKindRestoreItemActionV2:
		return m.GetRestoreItemActionV2(name)
	case common.PluginKindDeleteItemAction:
		return m.GetDeleteItemAction(name)
	case common.PluginKindItemBlockAction:
		return m.GetItemBlockAction(name)
	}
	return nil, fmt.Errorf("unsupported kind %q", kind)
}

func (c *client) appliesTo(in call, r result) error {
	a, err := c.action(in.Kind, in.Name)
	if err != nil {
		return err
	}
	sel, err := a.(velero.Applicable).AppliesTo()
	if err != nil {
		return err
	}
	r["selector"] = map[string]any{
		"includedNamespaces": sel.IncludedNamespaces, "excludedNamespaces": sel.ExcludedNamespaces,
		"includedResources": sel.IncludedResources, "excludedResources": sel.ExcludedResources,
		"labelSelector": sel.LabelSelector,
	}
	return nil
}

func (c *client) execute(in call, r result) error {
	a, err := c.action(in.Kind, in.Name)
	if err != nil {
		return err
	}
	item := &unstructured.Unstructured{Object: in.Item}
	switch a := a.(type) {
	case biav2.BackupItemAction:
		updated, additional, opID, post, err := a.Execute(item, in.Backup)
		r["item"], r["additionalItems"], r["operationID"], r["postOperationItems"] =
			content(updated), ids(additional), opID, ids(post)
		return err
	case biav1.BackupItemAction:
		updated, additional, err := a.Execute(item, in.Backup)
		r["item"], r["additionalItems"] = content(updated), ids(additional)
		return err
	case riav1.RestoreItemAction: // riav2 has the same Execute signature
		out, err := a.Execute(&velero.RestoreItemActionExecuteInput{
			Item: item, ItemFromBackup: &unstructured.Unstructured{Object: in.ItemFromBackup}, Restore: in.Restore,
		})
		if out != nil {
			r["updatedItem"], r["additionalItems"], r["skipRestore"] = content(out.UpdatedItem), ids(out.AdditionalItems), out.SkipRestore
			r["operationID"], r["waitForAdditionalItems"] = out.OperationID, out.WaitForAdditionalItems
			r["additionalItemsReadyTimeout"] = out.AdditionalItemsReadyTimeout.String()
		}
		return err
	}
	return fmt.Errorf("execute not supported for kind %q", in.Kind)
}

func (c *client) ready(in call, r result) error {
	a, err := c.manager.GetRestoreItemActionV2(in.Name)
	if err != nil {
		return err
	}
	var items []velero.ResourceIdentifier
	for _, id := range in.AdditionalItems {
		items = append(items, velero.ResourceIdentifier{
			GroupResource: schema.GroupResource{Group: id.Group, Resource: id.Resource},
			Namespace:     id.Namespace, Name: id.Name,
		})
	}
	ready, err := a.AreAdditionalItemsReady(items, in.Restore)
	r["ready"] = ready
	return err
}

// progressOrCancel uses the V2 getters (v1 plugins are adapted; Velero answers
// for them without an RPC) for Backup* and Restore* kinds respectively.
func (c *client) progressOrCancel(in call, r result) error {
	var progress velero.OperationProgress
	var err error
	if strings.HasPrefix(in.Kind, "Backup") {
		var a biav2.BackupItemAction
		if a, err = c.manager.GetBackupItemActionV2(in.Name); err != nil {
			return err
		}
		if in.Op == "cancel" {
			return a.Cancel(in.OperationID, in.Backup)
		}
		progress, err = a.Progress(in.OperationID, in.Backup)
	} else {
		var a riav2.RestoreItemAction
		if a, err = c.manager.GetRestoreItemActionV2(in.Name); err != nil {
			return err
		}
		if in.Op == "cancel" {
			return a.Cancel(in.OperationID, in.Restore)
		}
		progress, err = a.Progress(in.OperationID, in.Restore)
	}
	r["progress"] = map[string]any{
		"completed": progress.Completed, "err": progress.Err,
		"nCompleted": progress.NCompleted, "nTotal": progress.NTotal,
		"operationUnits": progress.OperationUnits, "description": progress.Description,
		"started": progress.Started, "updated": progress.Updated,
	}
	return err
}

// cleanup runs manager.CleanupClients (graceful go-plugin Kill of every running
// plugin process). The restartable processes stay in the manager, so a later
// call transparently restarts the plugin (exited() is true).
func (c *client) cleanup(op string) result {
	pids := childPids()
	before := c.forced.count()
	start := time.Now()
	c.manager.CleanupClients()
	return result{
		"op": op, "ok": true, "durationMs": time.Since(start).Milliseconds(),
		"pids": pids, "forcedKills": c.forced.count() - before, "remainingPids": childPids(),
	}
}

// killChildren SIGKILLs every plugin process we started (our descendants, so a
// wrapper script without exec dies too), simulating a crash, then waits until
// go-plugin has reaped them so that the next call sees exited() and Velero's
// restartable process restarts the plugin.
func killChildren(settleMs *int, r result) error {
	pids := childPids()
	r["pids"] = pids
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	// Wait until they are reaped (gone from /proc, not just zombies): go-plugin's cmd.Wait.
	for _, pid := range pids {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
				break
			}
		}
	}
	// go-plugin sets exited=true just after cmd.Wait returns; give it a moment.
	settle := 200
	if settleMs != nil {
		settle = *settleMs
	}
	time.Sleep(time.Duration(settle) * time.Millisecond)
	return nil
}

// childPids lists our live (non-zombie) descendants, children first, from /proc.
func childPids() []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// Format: "pid (comm) state ppid ..."; comm may contain spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	pids := []int{}
	for queue := children[os.Getpid()]; len(queue) > 0; queue = queue[1:] {
		pids = append(pids, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return pids
}

func content(u runtime.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	return u.UnstructuredContent()
}

func ids(in []velero.ResourceIdentifier) []resourceID {
	out := []resourceID{}
	for _, id := range in {
		out = append(out, resourceID{id.Group, id.Resource, id.Namespace, id.Name})
	}
	return out
}
