// The command line's contract, in process: every command explains itself, mistakes are usage errors (exit code
// 2 from main), and the JSON a script reads has a stable shape.
import assert from "node:assert/strict";
import { COMMANDS, runCli } from "../../src/cli/cli.js";
import { UsageError } from "../../src/cli/usage-error.js";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (err += s), env: {}, stdin: async () => "" });
  return { code, out, err };
}

describe("the command line", () => {
  it("lists every command with what it is for in twinsnap --help, -h and twinsnap help; exit 0", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const { code, out } = await cli(...argv);
      assert.equal(code, 0);
      for (const c of COMMANDS) assert.match(out, new RegExp(`^  ${c.path.join(" ")}\\s+${c.summary.slice(0, 20).replace(/[()[\]]/g, "\\$&")}`, "m"), c.path.join(" "));
      assert.match(out, /Exit codes: 0 done, 1 failed or problems found, 2 usage/);
    }
  });

  for (const c of COMMANDS) {
    const name = c.path.join(" ");
    it(`twinsnap ${name} --help and twinsnap help ${name}: its usage and every flag with its help; exit 0`, async () => {
      const viaFlag = await cli(...c.path, "--help");
      const viaHelp = await cli("help", ...c.path);
      const viaShort = await cli(...c.path, "-h");
      assert.equal(viaFlag.code, 0);
      assert.equal(viaFlag.out, viaHelp.out);
      assert.equal(viaFlag.out, viaShort.out);
      assert.match(viaFlag.out, new RegExp(`^Usage:\\n  twinsnap ${name}`, "m"));
      for (const [flag, f] of Object.entries(c.flags)) {
        assert.ok(f.help.length > 5, `--${flag} of ${name} has help`);
        assert.match(viaFlag.out, new RegExp(`--${flag}\\b`), `--${flag} is in the help of ${name}`);
      }
    });
  }

  it("--help wins over other flags, even wrong ones; after -- it is an argument", async () => {
    assert.equal((await cli("pairs", "list", "--store", "nowhere://", "--bogus", "--help")).code, 0);
    await assert.rejects(cli("strip", "--", "--help"), /--help/); // read as a file, which does not exist
  });

  it("a group without its subcommand: its subcommands named; with --help, listed with what each is for", async () => {
    await assert.rejects(cli("pairs"), (e: Error) => e instanceof UsageError && /"list", "show", "verify", "diff"/.test(e.message));
    await assert.rejects(cli("pairs", "nope"), (e: Error) => e instanceof UsageError && /no subcommand "nope"/.test(e.message));
    const { code, out } = await cli("pairs", "--help");
    assert.equal(code, 0);
    assert.match(out, /twinsnap pairs verify\s+read every snapshot back/);
  });

  it("an unknown command, an unknown flag, a missing value or a bad number: a UsageError naming it", async () => {
    for (const [argv, message] of [
      [["nope"], /unknown command "nope"/],
      [["pairs", "list", "--bogus"], /Unknown option '--bogus'/],
      [["pairs", "list", "--store"], /--store/],
      [["pairs", "list", "-o", "xml"], /-o must be table, json, yaml \(got "xml"\)/],
      [["apply", "--concurrency", "0", "dir"], /--concurrency must be a positive integer/],
      [["doctor", "--timeout", "soon"], /--timeout "soon" is not a duration/],
      [["pairs", "show"], /needs one backup name/],
      [["rules", "extra"], /Unexpected argument 'extra'/],
      [["help", "pairs", "nope"], /no command "pairs nope"/],
    ] as const) {
      await assert.rejects(cli(...argv), (e: Error) => e instanceof UsageError && message.test(e.message), argv.join(" "));
    }
  });

  it("-v and --version are twinsnap version, not the plugin handshake's complaint", async () => {
    for (const flag of ["-v", "--version"]) {
      const { code, out } = await cli(flag);
      assert.equal(code, 0);
      assert.match(out, /^twinsnap \d+\.\d+\.\d+/);
    }
  });

  it("started by hand the way Velero starts a plugin (its server flags, no handshake): says what this is, exit 1", async () => {
    const { code, err } = await cli("--log-level=info", "--features=");
    assert.equal(code, 1);
    assert.match(err, /without Velero's plugin handshake/);
  });

  it("JSON a script can rely on: version and rules, by -o json and by the older --json alike", async () => {
    for (const flag of [["-o", "json"], ["--json"]]) {
      const version = JSON.parse((await cli("version", ...flag)).out) as Record<string, unknown>;
      assert.deepEqual(Object.keys(version).sort(), ["node", "singleExecutable", "twinsnap", "velero"]);
      const rules = JSON.parse((await cli("rules", ...flag)).out) as { strip: Record<string, unknown>[]; dependencies: Record<string, unknown>[] };
      assert.deepEqual(Object.keys(rules.strip[0]!).sort(), ["kinds", "name", "origin", "removes", "stages", "why"]);
      assert.deepEqual(Object.keys(rules.dependencies[0]!).sort(), ["kinds", "name", "origin", "why"]);
    }
  });

  it("every duration flag takes a Go duration: a bare number only where it always meant seconds", () => {
    for (const c of COMMANDS) {
      for (const [flag, f] of Object.entries(c.flags)) {
        if (/timeout|window|grace/.test(flag)) assert.equal(f.value, "DURATION", `--${flag} of ${c.path.join(" ")}`);
      }
    }
  });
});

describe("progress on stderr", () => {
  it("on a terminal: one line redrawn in place, at most four times a second, cleared at the end", async () => {
    const { byteProgress } = await import("../../src/cli/progress.js");
    let err = "";
    let t = 0;
    const p = byteProgress({ err: (s) => void (err += s), interactive: true }, "streamed", () => t);
    for (t = 300; t <= 1200; t += 100) p.update(t * 2 ** 20, 4 * 2 ** 30);
    p.done();
    const frames = err.split("\r\x1b[2K").filter(Boolean);
    assert.deepEqual(frames, ["streamed: 300.0 MiB of 4.00 GiB (7%), 1000.0 MiB/s", "streamed: 600.0 MiB of 4.00 GiB (14%), 1000.0 MiB/s", "streamed: 900.0 MiB of 4.00 GiB (21%), 1000.0 MiB/s", "streamed: 1.17 GiB of 4.00 GiB (29%), 1000.0 MiB/s"]);
    assert.ok(err.endsWith("\r\x1b[2K"), "the line is cleared");
  });

  it("a line worth keeping (a failed object) is written above the progress line, which stays; in a log it is all there is", async () => {
    const { progressLine } = await import("../../src/cli/progress.js");
    let tty = "";
    let t = 1000;
    const onTerminal = progressLine({ err: (s) => void (tty += s), interactive: true }, () => t);
    onTerminal.show("applied 10 of 40");
    onTerminal.print("ConfigMap a/b: failed — namespaces \"a\" not found");
    t += 300;
    onTerminal.show("applied 40 of 40, 1 failed");
    onTerminal.done();
    assert.equal(tty, '\r\x1b[2Kapplied 10 of 40\r\x1b[2KConfigMap a/b: failed — namespaces "a" not found\napplied 10 of 40\r\x1b[2Kapplied 40 of 40, 1 failed\r\x1b[2K');
    let log = "";
    const inLog = progressLine({ err: (s) => void (log += s) });
    inLog.show("applied 10 of 40");
    inLog.print("ConfigMap a/b: failed");
    inLog.done();
    assert.equal(log, "ConfigMap a/b: failed\n");
  });

  it("not a terminal (a log, a CI job, a pipe): nothing", async () => {
    const { byteProgress } = await import("../../src/cli/progress.js");
    let err = "";
    const p = byteProgress({ err: (s) => void (err += s) }, "streamed");
    p.update(1, 2);
    p.done();
    assert.equal(err, "");
  });
});

describe("JSON reports of pairs verify", () => {
  it("-o json: every pair with its problems, damaged records and names without a pair; the exit code as in text", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-cli-verify-"));
    mkdirSync(join(dir, "pairs"));
    const failed = {
      apiVersion: "twinsnap.dev/v1alpha1",
      kind: "PairRecord",
      state: "Failed",
      reason: "etcd is not reachable",
      clusterIdentity: "c1",
      coordinatorVersion: "test",
      backup: { name: "nightly", namespace: "velero", uid: "u-1", phase: "Completed" },
      updatedAt: "2026-12-01T00:00:00Z",
    };
    writeFileSync(join(dir, "pairs", "u-1.json"), JSON.stringify(failed));
    writeFileSync(join(dir, "pairs", "u-2.json"), "{}");
    const all = await cli("pairs", "verify", "--store", `file://${dir}`, "-o", "json");
    assert.equal(all.code, 1);
    const report = JSON.parse(all.out) as Record<string, any>;
    assert.deepEqual(Object.keys(report).sort(), ["checked", "damaged", "missing", "pairs", "problems"]);
    assert.equal(report.checked, 1);
    assert.equal(report.problems, 2, "the failed pair and the damaged record");
    assert.deepEqual(report.pairs, [{ backup: "nightly", uid: "u-1", state: "Failed", ok: false, problems: ["no snapshot: etcd is not reachable"] }]);
    assert.equal(report.damaged[0].key, "pairs/u-2.json");
    const named = await cli("pairs", "verify", "nightly", "weekly", "--store", `file://${dir}`, "-o", "json");
    assert.equal(named.code, 4, "a named backup without a pair is not found");
    assert.deepEqual(JSON.parse(named.out).missing, ["weekly"]);
  });
});

describe("-o on every command that reports", () => {
  it("text, json and yaml on listings, plans, verify, apply, export, diff, doctor, rules, version; the same data in json and yaml", async () => {
    const yaml = (await import("js-yaml")).default;
    const reporting = ["pairs verify", "pairs diff", "restore plan", "doctor", "rules", "version", "apply", "export", "pairs list"];
    for (const name of reporting) {
      const c = COMMANDS.find((x) => x.path.join(" ") === name)!;
      assert.ok(c.flags.output, `${name} has -o`);
      assert.equal(c.flags.output!.short, "o");
      for (const f of ["json", "yaml"]) assert.match(c.flags.output!.help, new RegExp(f), `${name}: -o ${f}`);
    }
    for (const name of ["rules", "version"]) {
      const asJson = JSON.parse((await cli(name, "-o", "json")).out) as unknown;
      assert.deepEqual(yaml.load((await cli(name, "-o", "yaml")).out), asJson, name);
    }
  });
});
