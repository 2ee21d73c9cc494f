// Which apiserver requests go through a proxy, as kubectl decides it: the kubeconfig's proxy-url always, the
// environment's HTTPS_PROXY unless NO_PROXY or a loopback/localhost target says otherwise.
import assert from "node:assert/strict";
import { proxyFor } from "../../src/kube/proxy.js";

describe("proxy selection", () => {
  const env = { HTTPS_PROXY: "http://proxy.corp:3128", NO_PROXY: "10.0.0.0/8,.internal,api.direct:6443,[fd00::1]" };
  const cases: [string, Record<string, string>, string | undefined, string | undefined][] = [
    ["https://api.example.com:6443", env, undefined, "http://proxy.corp:3128/"],
    ["https://10.1.2.3:6443", env, undefined, undefined],
    ["https://11.1.2.3:6443", env, undefined, "http://proxy.corp:3128/"],
    ["https://k8s.internal:6443", env, undefined, undefined],
    ["https://internal:6443", env, undefined, undefined],
    ["https://api.direct:6443", env, undefined, undefined],
    ["https://api.direct:443", env, undefined, "http://proxy.corp:3128/"],
    ["https://[fd00::1]:6443", env, undefined, undefined],
    ["https://127.0.0.1:6443", env, undefined, undefined],
    ["https://[::1]:6443", env, undefined, undefined],
    ["https://localhost:6443", env, undefined, undefined],
    ["https://api.example.com:6443", { ...env, NO_PROXY: "*" }, undefined, undefined],
    ["https://api.example.com:6443", { https_proxy: "proxy.corp:8080" }, undefined, "http://proxy.corp:8080/"],
    ["http://api.example.com:8080", env, undefined, undefined],
    // The kubeconfig's proxy-url is used as it is, loopback targets included.
    ["https://127.0.0.1:6443", env, "http://127.0.0.1:3128", "http://127.0.0.1:3128/"],
  ];
  for (const [server, e, proxyUrl, expected] of cases) {
    it(`${server}${proxyUrl ? ` with proxy-url ${proxyUrl}` : ""}, ${JSON.stringify(e)}: ${expected ?? "direct"}`, () => {
      assert.equal(proxyFor(new URL(server), proxyUrl, e, "test")?.href, expected);
    });
  }
  it("refuses a proxy it cannot tunnel through", () => {
    assert.throws(() => proxyFor(new URL("https://a:6443"), "socks5://127.0.0.1:1080", {}, "kubeconfig"), /proxy scheme socks5 is not supported/);
  });
});
