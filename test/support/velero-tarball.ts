// Builds a tarball in Velero's backup layout (pkg/archive): each item under resources/<gr>/{namespaces/<ns>,cluster}/
// and again under its version directory, plus metadata/version — as Velero writes it.
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";
import type { KubeObject } from "../../src/manifest/object.js";

export interface TarballItem {
  groupResource: string;
  object: KubeObject;
}

export async function writeVeleroTarball(path: string, items: TarballItem[], extraEntries: { name: string; body: string }[] = []): Promise<void> {
  const tar = pack();
  const done = pipeline(tar, createGzip(), createWriteStream(path));
  tar.entry({ name: "metadata/version" }, "1.1.0\n");
  for (const { groupResource, object } of items) {
    const ns = object.metadata.namespace;
    const scope = ns ? `namespaces/${ns}` : "cluster";
    const version = object.apiVersion.split("/").at(-1)!;
    const body = JSON.stringify(object);
    tar.entry({ name: `resources/${groupResource}/${scope}/${object.metadata.name}.json` }, body);
    tar.entry({ name: `resources/${groupResource}/${version}-preferredversion/${scope}/${object.metadata.name}.json` }, body);
  }
  for (const e of extraEntries) tar.entry({ name: e.name }, e.body);
  tar.finalize();
  await done;
}
