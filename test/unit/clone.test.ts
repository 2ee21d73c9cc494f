import assert from "node:assert/strict";
import { LosslessNumber } from "lossless-json";
import { cloneJson } from "../../src/manifest/object.js";
import { fixture } from "../support/fixtures.js";

describe("cloneJson (the copy every stripped item gets)", () => {
  it("copies a real item deeply: equal, and no object or array shared", () => {
    const item = fixture("deployment");
    const copy = cloneJson(item);
    assert.deepEqual(copy, item);
    const shared: string[] = [];
    const walk = (a: unknown, b: unknown, path: string) => {
      if (a === null || typeof a !== "object") return;
      if (a === b) shared.push(path);
      for (const k of Object.keys(a)) walk((a as any)[k], (b as any)[k], `${path}.${k}`);
    };
    walk(copy, item, "");
    assert.deepEqual(shared, []);
  });

  it("keeps what JSON can hold at the edges: null, empty maps and lists, big and negative numbers, unicode keys", () => {
    const odd = { a: null, b: {}, c: [], d: [[], [{}]], e: -0, f: 1e308, g: "ü", "ключ": true, "__proto__x": 1 };
    assert.deepEqual(cloneJson(odd), odd);
  });

  it("a key named __proto__ stays data, as JSON.parse made it, and does not change the copy's prototype", () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
    const copy = cloneJson(parsed);
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(copy, "__proto__")?.value, { polluted: true });
    assert.equal((copy as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("shares a number kept as text (immutable) instead of turning it into an object", () => {
    const big = new LosslessNumber("9223372036854775807");
    const copy = cloneJson({ spec: { limit: big } });
    assert.equal(copy.spec.limit, big);
  });

  it("copies a deeply nested object without a stack overflow beyond the depths the apiserver accepts (a crafted item)", () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 6000; i++) deep = (deep.x = {}) as Record<string, unknown>;
    // Walked here without recursion too: assert.deepEqual itself overflows at this depth.
    let [a, b, depth] = [cloneJson(root) as Record<string, unknown> | undefined, root as Record<string, unknown> | undefined, 0];
    while (a && b) {
      assert.notEqual(a, b);
      [a, b, depth] = [a.x as Record<string, unknown> | undefined, b.x as Record<string, unknown> | undefined, depth + 1];
    }
    assert.equal(depth, 6001);
    assert.equal(a, b);
  });
});
