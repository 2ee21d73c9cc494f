// A Velero backup's own files in its BackupStorageLocation: backups/<name>/<name>.tar.gz and velero-backup.json,
// beside twinsnap's plugins/twinsnap/ (velero-plugin-for-aws's layout under the location's prefix).
import type { Readable } from "node:stream";
import type { RawClient } from "../kube/raw-client.js";
import { resolveBackupStorageLocation } from "../store/backup-storage-location.js";
import type { AwsEnvironment } from "../store/open-store.js";

export interface VeleroBackupFiles {
  tarball(backup: string): Promise<Readable>;
  backupObject(backup: string): Promise<unknown>;
  close(): void;
}

export async function veleroBackupFiles(opts: { client: RawClient; veleroNamespace: string; bsl: string; aws: AwsEnvironment }): Promise<VeleroBackupFiles> {
  const options = await resolveBackupStorageLocation({
    client: opts.client,
    namespace: opts.veleroNamespace,
    name: opts.bsl,
    ...(opts.aws.sharedCredentialsFile ? { credentialsFile: opts.aws.sharedCredentialsFile } : {}),
  });
  const { S3Store } = await import("../store/s3-store.js");
  const store = new S3Store({ ...options, prefix: options.prefix.replace(/\/?plugins\/twinsnap$/, "") });
  return {
    tarball: (backup) => store.get(`backups/${backup}/${backup}.tar.gz`),
    backupObject: async (backup) => {
      const chunks: Buffer[] = [];
      for await (const c of await store.get(`backups/${backup}/velero-backup.json`)) chunks.push(c as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    },
    close: () => store.close?.(),
  };
}
