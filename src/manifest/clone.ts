// A deep copy of a JSON tree (what items are: parsed from JSON or YAML). structuredClone is general and slow (it
// serializes and deserializes through V8's value serializer); a Velero backup copies every item once, so this
// walk, which only has to know objects, arrays and primitives, is a measurable share of the plugin's CPU.
// Anything else a YAML load can give (a Date from an unquoted timestamp) is copied by structuredClone.

export function cloneTree<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneTree(value[i]);
    return out as T;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = cloneTree((value as Record<string, unknown>)[key]);
    // JSON.parse makes "__proto__" an own data property; an assignment would set the copy's prototype instead.
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out as T;
}
