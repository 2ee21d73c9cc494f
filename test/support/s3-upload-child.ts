// A writer that dies mid-upload: run as a child process, it streams endless bytes into `--store URL` under KEY
// and prints "uploading" once started; the test kills it with SIGKILL, so it can abort nothing.
//   node dist/test/support/s3-upload-child.js STORE_URL KEY
import { Readable } from "node:stream";
import { awsEnvironment } from "../../src/cli/cli-store.js";
import { openStore } from "../../src/store/open-store.js";

const [url, key] = process.argv.slice(2);
const store = await openStore(url!, { aws: awsEnvironment(process.env), s3: { partSizeBytes: 5 * 2 ** 20, queueSize: 1 } });
const chunk = Buffer.alloc(2 ** 20, 0x5a);
const endless = new Readable({
  read() {
    this.push(chunk);
  },
});
process.stdout.write("uploading\n");
await store.put(key!, endless);
process.stdout.write("finished (it should not)\n");
