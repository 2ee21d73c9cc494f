// The shape of the generated Kubernetes API table (scripts/gen-kube-descriptor.mjs): per protobuf message, per field
// number, the JSON name, the field's type and how Go's encoding/json treats it in the apiserver's JSON.

/** Field flags (bits). */
export const REPEATED = 1;
export const MAP = 2;
/** `json:",omitempty"`: zero scalars, empty lists/maps/bytes and nil pointers are left out. */
export const OMITEMPTY = 4;
/** `json:",omitzero"`: a zero struct (e.g. an unset creationTimestamp) is left out. */
export const OMITZERO = 8;
/** A Go pointer: presence on the wire is the value's presence in JSON, even when it is zero. */
export const POINTER = 16;
/** `json:",inline"`: an embedded struct whose fields appear in the parent object. */
export const INLINE = 32;

/** [jsonName, type (a scalar protobuf type or a message's full name), flags, map key type?] */
export type FieldInfo = [string, string, number, string?];

export interface MessageInfo {
  fields: Record<string, FieldInfo>;
  /** A Go slice type (`type ExtraValue []string`): one repeated field on the wire, the list itself in JSON. */
  list?: true;
  /** Field numbers in Go declaration order (the order of the apiserver's JSON), when not ascending. */
  order?: number[];
}

export interface KubeDescriptor {
  /** Go module versions the definitions come from, e.g. {"k8s.io/api": "v0.36.5"}. */
  versions: Record<string, string>;
  /** apiVersion ("v1", "apps/v1") -> protobuf package ("k8s.io.api.apps.v1"). */
  groups: Record<string, string>;
  messages: Record<string, MessageInfo>;
}
