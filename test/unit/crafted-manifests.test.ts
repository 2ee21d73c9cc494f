// Inputs the manifest core was not designed for, as users and attackers bring them: big numbers, unquoted dates,
// quoted field paths, own `toString` keys, deep nesting, YAML alias bombs. Nothing may crash, change or slip by.
import assert from "node:assert/strict";
import { parseRulesConfig } from "../../src/manifest/rules-config.js";
import { buildStripPolicy, DEFAULT_STRIP_POLICY } from "../../src/manifest/strip-config.js";
import { stripObject } from "../../src/manifest/strip.js";
import { ManifestParseError, parseManifests, toYaml } from "../../src/manifest/yaml.js";
import { parseJsonText, stringifyJsonText } from "../../src/manifest/json-text.js";
import { STAGES } from "../../src/manifest/strip-rule.js";
import type { KubeObject } from "../../src/manifest/object.js";
import { fixture } from "../support/fixtures.js";

const WIDGET_YAML = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: blue
  namespace: shop
  resourceVersion: "12"
spec:
  maxInt64: 9223372036854775807
  minInt64: -9223372036854775808
  ratio: 1.0
  small: 1.50
  avogadro: 6.02214076e23
  plain: 42
  since: 2024-01-01
  at: 2024-01-01T10:00:00Z
`;

describe("crafted manifests", () => {
  describe("numbers and dates survive reading, stripping and writing", () => {
    it("keeps int64 limits, float text and unquoted dates exactly as written (strip, apply)", () => {
      const [widget] = parseManifests(WIDGET_YAML, "widget.yaml");
      const stripped = stripObject(widget!, DEFAULT_STRIP_POLICY, { stage: "export" }).object;
      const text = toYaml(stripped);
      for (const line of ["maxInt64: 9223372036854775807", "minInt64: -9223372036854775808", "ratio: 1.0", "small: 1.50", "avogadro: 6.02214076e23", "plain: 42"]) {
        assert.ok(text.includes(`  ${line}\n`), `${line} in\n${text}`);
      }
      assert.match(text, /since: "2024-01-01"\n/, "a date stays the string Kubernetes stores (quoted so every reader agrees)");
      assert.match(text, /at: "2024-01-01T10:00:00Z"\n/);
      assert.ok(!text.includes("resourceVersion"), "the rules still ran");
      // What apply sends to the apiserver:
      const json = stringifyJsonText(stripped);
      assert.ok(json.includes('"maxInt64":9223372036854775807'), json);
      assert.ok(json.includes('"ratio":1.0'), json);
      assert.ok(json.includes('"since":"2024-01-01"'), json);
      // And the YAML we wrote reads back to the same numbers.
      assert.equal(toYaml(parseManifests(text, "again.yaml")[0]!), text);
    });

    it("reads JSON with big numbers losslessly and leaves ordinary JSON on the fast path", () => {
      const text = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"n":12345678901234567890,"f":2.50,"e":1e3,"z":-0}';
      assert.equal(stringifyJsonText(parseJsonText(text)), text);
      const ordinary = '{"a":1,"b":[1.5,"x"],"c":{"d":null}}';
      assert.deepEqual(parseJsonText(ordinary), JSON.parse(ordinary));
    });

    it("reads a document 6000 levels deep whose uid holds a digit before an e (as a random uid often does)", () => {
      // The fast path's check once wrote the parsed document back with JSON.stringify, which exhausts the stack at
      // this depth: a backup holding such an item (the apiserver and Velero accept 10000 levels) could not be read.
      let text = '{"leaf":1.5}';
      for (let i = 0; i < 6000; i++) text = `{"n":${text}}`;
      text = `{"apiVersion":"docs.example.com/v1","kind":"Document","metadata":{"name":"deep","uid":"3e4f-9e1a","resourceVersion":"42"},"spec":${text}}`;
      const read = parseJsonText(text) as { metadata: { uid: string }; spec: unknown };
      assert.equal(read.metadata.uid, "3e4f-9e1a");
      let leaf = read.spec as Record<string, unknown>;
      for (let i = 0; i < 6000; i++) leaf = leaf.n as Record<string, unknown>;
      assert.equal(leaf.leaf, 1.5);
    });

    it("a number that JSON.parse would change anywhere, even next to strings holding digits, takes the lossless path", () => {
      for (const text of ['{"s":"1.50","n":1.50}', '{"s":"a\\"1e3","n":1e3}', '[-0]', '{"big":[1,2,9007199254740993]}']) {
        assert.equal(stringifyJsonText(parseJsonText(text)), text, text);
      }
      for (const text of ['{"s":"1.50 9007199254740993 1e3","n":1.5}', '{"t":"2024-01-01T10:00:00.5Z","n":-12}']) {
        assert.deepEqual(parseJsonText(text), JSON.parse(text), text);
      }
    });
  });

  describe("the backup-time guard compares parsed paths, not strings", () => {
    const quoted = [
      ["Pod", "['status']"],
      ["Pod", '["status"]'],
      ["Pod", "status['phase']"],
      ["*", "metadata['managedFields']"],
      ["*", "metadata['annotations']"],
      ["*", "metadata[\"labels\"]"],
      ["Pod", "spec['volumes']"],
      ["Pod", "spec['volumes'][*].name"],
      ["*", "metadata['annotations']['velero.io/restore-name']"],
      ["*", "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]"],
      ["PersistentVolumeClaim", "['spec']['volumeName']"],
      ["*", "metadata"],
    ] as const;
    for (const [kind, path] of quoted) {
      it(`refuses ${kind} ${path} at backup time`, () => {
        const kinds = kind === "*" ? "'*'" : `[${kind}]`;
        const config = parseRulesConfig(`rules:\n  - name: sneaky\n    kinds: ${kinds}\n    stages: [backup]\n    remove: [${JSON.stringify(path)}]\n`, "cm");
        assert.throws(() => buildStripPolicy(config, "cm"), /sneaky.*at backup time/s);
      });
    }

    it("still accepts paths that only share a prefix of text with a protected one", () => {
      const config = parseRulesConfig("rules:\n  - { name: fine, kinds: [Pod], stages: [backup], remove: [statusReport, \"metadata.annotations['example.com/x']\"] }\n", "cm");
      assert.doesNotThrow(() => buildStripPolicy(config, "cm"));
    });

    it("the preserve annotation matches quoted and dotted spellings alike", () => {
      const svc = fixture("service-nodeport");
      for (const spelling of ["spec['ports']", 'spec["ports"]', "['spec'].ports", "spec.ports"]) {
        const obj = { ...svc, metadata: { ...svc.metadata, annotations: { ...svc.metadata.annotations, "twinsnap.dev/preserve": spelling } } };
        const result = stripObject(obj, DEFAULT_STRIP_POLICY, { stage: "restore" });
        assert.ok(!result.removed.some((r) => r.path.startsWith("spec.ports")), `${spelling}: ${JSON.stringify(result.removed)}`);
      }
    });
  });

  describe("hostile values never crash a rule", () => {
    it("strips every fixture with own toString/valueOf keys in every value, at every stage", () => {
      const hostile = (): unknown => ({ toString: 1, valueOf: "x", name: { toString: [] } });
      const poison = (v: unknown, depth: number): unknown => {
        if (Array.isArray(v)) return v.map((el) => poison(el, depth + 1));
        if (v !== null && typeof v === "object") {
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, depth < 1 && (k === "apiVersion" || k === "kind" || k === "metadata") ? x : poison(x, depth + 1)]));
        }
        return hostile();
      };
      const names = ["service-nodeport", "service-loadbalancer", "pod-with-token", "pv-bound", "pvc-bound", "deployment", "job", "crd", "cr-widget", "secret-sa-token-generated"];
      for (const name of names) {
        const base = fixture(name);
        const poisoned = { ...(poison(base, 0) as KubeObject), metadata: { ...(poison(base.metadata, 1) as object), name: "x", namespace: "y" } } as KubeObject;
        for (const stage of STAGES) {
          assert.doesNotThrow(() => stripObject(poisoned, DEFAULT_STRIP_POLICY, { stage, itemFromBackup: poisoned }), `${name} at ${stage}`);
        }
      }
    });

    it("an object nested 6000 deep is stripped, not a stack overflow", () => {
      let deep: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 6000; i++) deep = { n: deep };
      const obj: KubeObject = { apiVersion: "example.com/v1", kind: "Deep", metadata: { name: "d", resourceVersion: "1" }, spec: deep };
      const result = stripObject(obj, DEFAULT_STRIP_POLICY, { stage: "backup" });
      assert.equal(result.object.metadata.resourceVersion, undefined);
    });
  });

  describe("YAML bombs are refused quickly with a clear error", () => {
    it("a 600-byte alias bomb", () => {
      const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
      for (let i = 1; i < 9; i++) {
        const prev = String.fromCharCode(96 + i);
        const cur = String.fromCharCode(97 + i);
        levels.push(`${cur}: &${cur} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`);
      }
      const bomb = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n${levels.map((l) => `  ${l}`).join("\n")}\n`;
      assert.ok(bomb.length < 700);
      const heapBefore = process.memoryUsage().heapUsed;
      const started = Date.now();
      assert.throws(() => parseManifests(bomb, "bomb.yaml"), (err: unknown) => err instanceof ManifestParseError && /bomb\.yaml, document 1: .*(aliases|expands)/.test(err.message));
      assert.ok(Date.now() - started < 5000, "refused before expanding");
      assert.ok(process.memoryUsage().heapUsed - heapBefore < 200 * 1024 * 1024, "memory stays bounded");
    });

    it("a few legitimate anchors and merge keys are fine", () => {
      const text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, labels: &l {app: web}}\nspec:\n  base: &b {x: 1}\n  merged: {<<: *b, y: 2}\n  labels: *l\n";
      const [cm] = parseManifests(text, "ok.yaml");
      assert.deepEqual((cm as Record<string, any>).spec.merged, { x: 1, y: 2 });
    });
  });
});
