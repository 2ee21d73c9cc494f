// velero-plugin-client loads Velero plugins exactly like the Velero server does
// (process.NewRegistry + DiscoverPlugins, clientmgmt.NewManager) and drives them
// from a JSON script, so conformance tests can check wire compatibility against
// Velero's real client library.
//
//	velero-plugin-client --plugin-dir DIR [--log-level info] [-- EXTRA_PLUGIN_ARGS...] < script.json > results.json
//
// script.json is {"calls":[{"op":...}, ...]}; ops: list, appliesTo, execute,
// ready, progress, cancel (kind+name), kill (graceful CleanupClients) and
// killProcess (SIGKILL the plugin processes). stdout gets {"results":[...]}:
// a "discover" entry, one entry per call ({"op","ok","error",...}, never
// aborting), then a "cleanup" entry. Logs go to stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
)

// kinds reported by the "list" op, in a stable order.
var kinds = []common.PluginKind{
	common.PluginKindBackupItemAction, common.PluginKindBackupItemActionV2,
	common.PluginKindRestoreItemAction, common.PluginKindRestoreItemActionV2,
	common.PluginKindDeleteItemAction, common.PluginKindItemBlockAction,
	common.PluginKindObjectStore, common.PluginKindVolumeSnapshotter,
}

func main() {
	// Registry.DiscoverPlugins always runs os.Args[0] as Velero's "internal
	// plugins" binary (as `os.Args[0] run-plugins ...`) with the go-plugin magic
	// cookie set. Like `velero run-plugins`, serve a Velero plugin server, but
	// one that registers nothing, so ListPlugins returns an empty list.
	if os.Getenv(framework.Handshake().MagicCookieKey) == framework.Handshake().MagicCookieValue {
		framework.NewServer().Serve()
		return
	}

	pluginDir := flag.String("plugin-dir", "", "directory to discover plugins in (walked recursively, like Velero's /plugins)")
	logLevelFlag := flag.String("log-level", "info", "logrus level for Velero/go-plugin logs (written to stderr)")
	flag.Parse()
	if *pluginDir == "" {
		fmt.Fprintln(os.Stderr, "usage: velero-plugin-client --plugin-dir DIR [--log-level info] [-- EXTRA_PLUGIN_ARGS...] < script.json")
		os.Exit(2)
	}
	level, err := logrus.ParseLevel(*logLevelFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	// Velero's clientBuilder passes os.Args[2:] to every plugin process (for
	// `velero server --flags...` those are the server flags). Make our argv look
	// like `velero server --log-level=L [extra...]` so plugins get the same shape.
	os.Args = append([]string{os.Args[0], "server", "--log-level=" + level.String()}, flag.Args()...)

	logger := logrus.New()
	logger.SetOutput(os.Stderr)
	// go-plugin reports a forced kill as a Warn; keep Warn enabled so the hook sees it.
	logger.SetLevel(max(level, logrus.WarnLevel))
	forced := &forcedKillHook{}
	logger.AddHook(forced)

	script, err := io.ReadAll(os.Stdin)
	if err != nil {
		fatal(err)
	}
	var in struct {
		Calls []json.RawMessage `json:"calls"`
	}
	if err := json.Unmarshal(script, &in); err != nil {
		fatal(fmt.Errorf("parse script: %w", err))
	}

	var results []result

	// Discovery, exactly as the Velero server does it at startup. Velero exits
	// when this fails; we report it and still run the calls.
	registry := process.NewRegistry(*pluginDir, logger, level)
	start := time.Now()
	err = registry.DiscoverPlugins()
	// Discovery Kill()s each lister process; forcedKills > 0 means one ignored the graceful shutdown.
	r := result{"op": "discover", "durationMs": time.Since(start).Milliseconds(), "forcedKills": forced.count()}
	results = append(results, r.done(err))

	c := &client{
		registry: registry,
		manager:  clientmgmt.NewManager(logger, level, registry),
		forced:   forced,
	}
	for _, raw := range in.Calls {
		results = append(results, c.run(raw))
	}

	// CleanupClients -> go-plugin Client.Kill: GRPCController.Shutdown, then
	// waits up to 2 s for the process to exit before force-killing it.
	results = append(results, c.cleanup("cleanup"))

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"results": results}); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "velero-plugin-client:", err)
	os.Exit(1)
}

// result is one entry of the output array.
type result map[string]any

// done sets ok/error from err and returns r.
func (r result) done(err error) result {
	r["ok"] = err == nil
	if err != nil {
		r["error"] = err.Error()
	}
	return r
}

// forcedKillHook counts go-plugin's "plugin failed to exit gracefully" warnings,
// i.e. plugins that ignored GRPCController.Shutdown and were SIGKILLed after 2 s.
type forcedKillHook struct{ n atomic.Int64 }

func (h *forcedKillHook) Levels() []logrus.Level { return []logrus.Level{logrus.WarnLevel} }
func (h *forcedKillHook) Fire(e *logrus.Entry) error {
	if e.Message == "plugin failed to exit gracefully" {
		h.n.Add(1)
	}
	return nil
}

func (h *forcedKillHook) count() int64 { return h.n.Load() }
