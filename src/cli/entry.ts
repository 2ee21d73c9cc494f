// The executable's entry point. Velero starts a plugin process per backup and restore (and more for each kind
// of plugin), so plugin mode loads only the plugin's modules: the CLI's commands (export, apply, etcd,
// coordinator, restore, their stores and clients) are loaded only when a person runs one. In the single
// executable, esbuild turns these imports into lazily evaluated modules.
const pluginMode = process.env.VELERO_PLUGIN !== undefined;
const run = pluginMode
  ? import("./plugin-mode.js").then(({ runPluginMode }) => runPluginMode(process.env, process.argv.slice(2)))
  : import("./main.js").then(() => undefined); // main.js runs the command line itself
run.then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`twinsnap: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
