import assert from "node:assert/strict";
import { type EndpointSlice, endpointUrls } from "./endpoint_slices.ts";

const slice = (name: string, endpoints: EndpointSlice["endpoints"], ports: EndpointSlice["ports"]): EndpointSlice => ({
  metadata: { name },
  endpoints,
  ports,
});
const HTTP = { protocol: "http:", basePath: "" };

Deno.test("only ready endpoints become URLs; a missing ready condition counts as ready", () => {
  const slices = [
    slice("a", [
      { addresses: ["10.0.0.2"], conditions: { ready: true } },
      { addresses: ["10.0.0.3"], conditions: { ready: false } },
      { addresses: ["10.0.0.1"] },
      { addresses: ["10.0.0.4"], conditions: { ready: null } },
    ], [{ name: "http", port: 8000 }]),
    slice("b", [{ addresses: ["10.0.0.2"], conditions: { ready: true } }], [{ name: "http", port: 8000 }]),
  ];
  assert.deepEqual(endpointUrls(slices, HTTP).urls, [
    "http://10.0.0.1:8000",
    "http://10.0.0.2:8000",
    "http://10.0.0.4:8000",
  ]);
});

Deno.test("the port is chosen by name or number, else the first; slices without it are named as skipped", () => {
  const slices = [
    slice("two-ports", [{ addresses: ["10.0.0.1"] }], [{ name: "metrics", port: 9090 }, { name: "http", port: 8000 }]),
    slice("other", [{ addresses: ["10.0.0.2"] }], [{ name: "grpc", port: 9000 }]),
    slice("empty", [], []),
  ];
  assert.deepEqual(endpointUrls(slices, { ...HTTP, port: "http" }), {
    urls: ["http://10.0.0.1:8000"],
    skipped: ["other"],
  });
  assert.deepEqual(endpointUrls(slices, { ...HTTP, port: 9000 }).urls, ["http://10.0.0.2:9000"]);
  assert.deepEqual(endpointUrls(slices, HTTP).urls, ["http://10.0.0.1:9090", "http://10.0.0.2:9000"]);
  const unnamed = [slice("unnamed", [{ addresses: ["10.0.0.3"] }], [{ name: "", port: 8001 }])];
  assert.deepEqual(endpointUrls(unnamed, { ...HTTP, port: "" }).urls, ["http://10.0.0.3:8001"]);
});

Deno.test("IPv6 addresses are bracketed and the base path and scheme of the configured URL are kept", () => {
  const slices = [slice("v6", [{ addresses: ["fd00::5"] }], [{ port: 8080 }])];
  assert.deepEqual(endpointUrls(slices, { protocol: "https:", basePath: "/openai" }).urls, [
    "https://[fd00::5]:8080/openai",
  ]);
});
