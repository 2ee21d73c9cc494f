import assert from "node:assert/strict";
import { getAtPath, parseFieldPath, removeAtPath, InvalidFieldPathError } from "../../src/manifest/field-path.js";

describe("field paths", () => {
  it("removes a nested field and reports the concrete path", () => {
    const obj = { spec: { clusterIP: "10.96.0.10", ports: [] } };
    assert.deepEqual(removeAtPath(obj, "spec.clusterIP"), ["spec.clusterIP"]);
    assert.deepEqual(obj, { spec: { ports: [] } });
  });

  it("removes a field from every list element", () => {
    const obj = { spec: { ports: [{ port: 80, nodePort: 30080 }, { port: 443 }, { port: 8443, nodePort: 31443 }] } };
    assert.deepEqual(removeAtPath(obj, "spec.ports[*].nodePort"), ["spec.ports[0].nodePort", "spec.ports[2].nodePort"]);
    assert.deepEqual(obj.spec.ports, [{ port: 80 }, { port: 443 }, { port: 8443 }]);
  });

  it("addresses keys that contain dots and slashes with quotes", () => {
    const obj = { metadata: { annotations: { "pv.kubernetes.io/bind-completed": "yes", keep: "me" } } };
    assert.deepEqual(removeAtPath(obj, "metadata.annotations['pv.kubernetes.io/bind-completed']"), [
      "metadata.annotations['pv.kubernetes.io/bind-completed']",
    ]);
    assert.deepEqual(obj.metadata.annotations, { keep: "me" });
    assert.equal(getAtPath({ a: { "b.c": 1 } }, 'a["b.c"]'), 1);
  });

  it("does nothing where the path does not exist or crosses a scalar", () => {
    const obj = { spec: "text", list: [1, 2] };
    assert.deepEqual(removeAtPath(obj, "spec.clusterIP"), []);
    assert.deepEqual(removeAtPath(obj, "list[*].x"), []);
    assert.deepEqual(removeAtPath(obj, "missing.deeper"), []);
    assert.deepEqual(obj, { spec: "text", list: [1, 2] });
  });

  it("reads the first matching value through lists", () => {
    assert.equal(getAtPath({ ports: [{ port: 1 }, { port: 2, nodePort: 3 }] }, "ports[*].nodePort"), 3);
  });

  it("rejects malformed paths with the reason", () => {
    for (const bad of ["", "spec..x", ".spec", "spec.", "spec[0]", "spec['open", "sp ec"]) {
      assert.throws(() => parseFieldPath(bad), InvalidFieldPathError, bad);
    }
  });
});
