import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, loadConfig, parseKeysFile, parsePolicies, parseUpstreams } from "./config.ts";

const UPSTREAMS = parseUpstreams("a=http://a:8000;b=http://b:8000/openai;c=https://c");
const NAMES = ["a", "b", "c"] as const;

const upstreamName = fc.constantFrom(...NAMES);
const canary = fc.record({
  strategy: fc.constant("canary" as const),
  primary: upstreamName,
  canary: upstreamName,
  percent: fc.double({ min: 0, max: 100, noNaN: true }),
}).filter((p) => p.primary !== p.canary);
const weighted = fc.record({
  strategy: fc.constant("weighted" as const),
  weights: fc.dictionary(upstreamName, fc.integer({ min: 1, max: 1000 }), { minKeys: 1 }),
});
const fallback = fc.record({
  strategy: fc.constant("fallback" as const),
  upstreams: fc.array(upstreamName, { minLength: 1, maxLength: 3 }),
});
const validPolicy = fc.oneof(canary, weighted, fallback);
const modelName = fc.string({ minLength: 1, maxLength: 40 });

function rejects(raw: string, ...fragments: string[]): void {
  assert.throws(() => parsePolicies(raw, UPSTREAMS), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.variable, "GATEWAY_ROUTE_POLICIES");
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    }
    return true;
  });
}

Deno.test("any valid policy map parses to the same policies", () => {
  fc.assert(fc.property(fc.dictionary(modelName, validPolicy), (policies) => {
    const parsed = parsePolicies(JSON.stringify(policies), UPSTREAMS);
    assert.deepEqual(Object.fromEntries(parsed), JSON.parse(JSON.stringify(policies)));
  }));
});

Deno.test("the seed's canary policy parses exactly", () => {
  const upstreams = parseUpstreams("vllm=http://model-worker:8001;sglang=http://sglang-worker:8002");
  const raw =
    '{"meta-llama/Meta-Llama-3-8B-Instruct":{"strategy":"canary","primary":"vllm","canary":"sglang","percent":10}}';
  const parsed = parsePolicies(raw, upstreams);
  assert.deepEqual(parsed.get("meta-llama/Meta-Llama-3-8B-Instruct"), {
    strategy: "canary",
    primary: "vllm",
    canary: "sglang",
    percent: 10,
  });
});

Deno.test("a canary percent outside 0..100 is rejected naming percent and the value", () => {
  const outside = fc.oneof(
    fc.double({ min: 100.0001, max: 1e9, noNaN: true }),
    fc.double({ max: -0.0001, min: -1e9, noNaN: true }),
  );
  fc.assert(fc.property(modelName, outside, (model, percent) => {
    const raw = JSON.stringify({ [model]: { strategy: "canary", primary: "a", canary: "b", percent } });
    rejects(raw, ".percent", JSON.stringify(model), String(percent));
  }));
});

Deno.test("a policy naming an unknown upstream is rejected naming the field and the upstream", () => {
  const unknown = fc.stringMatching(/^[a-z]{2,8}$/).filter((n) => !NAMES.includes(n as never));
  fc.assert(
    fc.property(modelName, unknown, fc.constantFrom("primary", "canary", "weights", "upstreams"), (m, bad, field) => {
      const policy = field === "weights"
        ? { strategy: "weighted", weights: { a: 1, [bad]: 2 } }
        : field === "upstreams"
        ? { strategy: "fallback", upstreams: ["a", bad] }
        : { strategy: "canary", primary: "a", canary: "b", percent: 5, [field]: bad };
      rejects(JSON.stringify({ [m]: policy }), field, `"${bad}"`);
    }),
  );
});

Deno.test("a policy with a missing or mistyped field is rejected naming that field", () => {
  const cases: Array<[unknown, string]> = [
    [{ strategy: "canary", primary: "a", percent: 10 }, ".canary"],
    [{ strategy: "canary", primary: "a", canary: "b", percent: "10" }, ".percent"],
    [{ strategy: "weighted", weights: { a: -1 } }, ".weights"],
    [{ strategy: "weighted", weights: { a: 0 } }, ".weights"],
    [{ strategy: "fallback", upstreams: [] }, ".upstreams"],
    [{ strategy: "roundrobin" }, ".strategy"],
    [{ strategy: "canary", primary: "a", canary: "b", percent: 1, extra: true }, "extra"],
    [{ strategy: "canary", primary: "a", canary: "a", percent: 1 }, ".canary"],
  ];
  for (const [policy, field] of cases) rejects(JSON.stringify({ m: policy }), `["m"]`, field);
});

Deno.test("invalid JSON in GATEWAY_ROUTE_POLICIES is rejected showing the value", () => {
  rejects("{not json", "invalid JSON", "{not json");
});

function configFails(env: Record<string, string>, variable: string, ...fragments: string[]): void {
  assert.throws(() => loadConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.variable, variable);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    }
    return true;
  });
}

const BASE = { GATEWAY_UPSTREAMS: "mock=http://127.0.0.1:8001", GATEWAY_API_KEYS: "k1,k2" };

Deno.test("a bad upstream URL is rejected naming GATEWAY_UPSTREAMS and the URL", () => {
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "mock=not a url" }, "GATEWAY_UPSTREAMS", "not a url");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "mock=ftp://x" }, "GATEWAY_UPSTREAMS", "ftp://x");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "novalue" }, "GATEWAY_UPSTREAMS", "novalue");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "" }, "GATEWAY_UPSTREAMS");
});

Deno.test("an upstream URL may carry a base path, kept without its trailing slash", () => {
  const upstreams = parseUpstreams("kserve=http://isvc-predictor/openai/; plain=http://w:8001");
  assert.equal(upstreams.get("kserve")!.baseUrl, "http://isvc-predictor/openai");
  assert.equal(upstreams.get("plain")!.baseUrl, "http://w:8001");
});

Deno.test("an unknown default upstream is rejected naming GATEWAY_DEFAULT_UPSTREAM", () => {
  configFails({ ...BASE, GATEWAY_DEFAULT_UPSTREAM: "nope" }, "GATEWAY_DEFAULT_UPSTREAM", '"nope"');
});

Deno.test("without API keys the gateway refuses to start unless GATEWAY_AUTH=off", () => {
  configFails({ GATEWAY_UPSTREAMS: BASE.GATEWAY_UPSTREAMS }, "GATEWAY_API_KEYS", "GATEWAY_AUTH=off");
  const config = loadConfig({ GATEWAY_UPSTREAMS: BASE.GATEWAY_UPSTREAMS, GATEWAY_AUTH: "off" });
  assert.equal(config.authEnabled, false);
});

Deno.test("numbers and choices are validated naming the variable and value", () => {
  configFails({ ...BASE, GATEWAY_PORT: "http" }, "GATEWAY_PORT", '"http"');
  configFails({ ...BASE, GATEWAY_RATE_LIMIT_RPM: "-1" }, "GATEWAY_RATE_LIMIT_RPM", '"-1"');
  configFails({ ...BASE, GATEWAY_RATE_LIMIT_FAIL: "maybe" }, "GATEWAY_RATE_LIMIT_FAIL", '"maybe"');
  configFails({ ...BASE, GATEWAY_LOG_LEVEL: "loud" }, "GATEWAY_LOG_LEVEL", '"loud"');
  configFails({ ...BASE, GATEWAY_UPSTREAM_CLIENT: "curl" }, "GATEWAY_UPSTREAM_CLIENT", '"curl"');
  configFails({ ...BASE, REDIS_URL: "localhost:6379" }, "REDIS_URL");
});

Deno.test("GATEWAY_UPSTREAM_CLIENT picks the pool client by default, fetch on request", () => {
  assert.equal(loadConfig(BASE).upstreamClient, "pool");
  assert.equal(loadConfig({ ...BASE, GATEWAY_UPSTREAM_CLIENT: "fetch" }).upstreamClient, "fetch");
});

Deno.test("defaults: port 8000, 60 rpm, fail open, body limit at most 8 MiB, no dev key", () => {
  const config = loadConfig(BASE);
  assert.equal(config.port, 8000);
  assert.equal(config.rateLimitRpm, 60);
  assert.equal(config.rateLimitFail, "open");
  assert.ok(config.maxBodyBytes <= 8 * 1024 * 1024);
  assert.deepEqual(config.apiKeys.map((k) => k.key), ["k1", "k2"]);
  assert.equal(config.redisUrl, undefined);
});

const DEFAULTS = { rpm: 60, tpm: 0, tokensPerDay: 0 };

Deno.test("a YAML or JSON keys file gives per-key rpm, tpm, tokensPerDay and allowed models", () => {
  const yaml = "keys:\n  - name: team-a\n    key: sk-a\n    rpm: 5\n    tpm: 20000\n    tokensPerDay: 1000000\n" +
    "    models: [m1]\n  - name: team-b\n    key: sk-b\n";
  const keys = parseKeysFile(yaml, { path: "keys.yaml", defaults: { rpm: 60, tpm: 500, tokensPerDay: 0 } });
  assert.deepEqual(keys, [
    { name: "team-a", key: "sk-a", rpm: 5, tpm: 20000, tokensPerDay: 1000000, models: ["m1"] },
    { name: "team-b", key: "sk-b", rpm: 60, tpm: 500, tokensPerDay: 0, models: undefined },
  ]);
  const json = JSON.stringify({ keys: [{ name: "j", key: "sk-j", rpm: 1, tpm: 0 }] });
  assert.equal(parseKeysFile(json, { path: "keys.json", defaults: DEFAULTS })[0].rpm, 1);
  assert.throws(
    () => parseKeysFile("keys:\n  - { name: n, key: sk-n, tpm: -1 }\n", { path: "k.yaml", defaults: DEFAULTS }),
    /GATEWAY_API_KEYS_FILE: k\.yaml: keys\[0\]\.tpm: Too small/,
  );
});

Deno.test("token budgets: none by default; GATEWAY_RATE_LIMIT_TPM and _TOKENS_PER_DAY give every key one", () => {
  const none = loadConfig(BASE);
  assert.deepEqual([none.rateLimitTpm, none.rateLimitTokensPerDay, none.rateLimitDefaultMaxTokens], [0, 0, 1024]);
  assert.deepEqual(none.apiKeys.map((k) => [k.tpm, k.tokensPerDay]), [[0, 0], [0, 0]]);
  const set = loadConfig({
    ...BASE,
    GATEWAY_RATE_LIMIT_TPM: "30000",
    GATEWAY_RATE_LIMIT_TOKENS_PER_DAY: "2000000",
    GATEWAY_RATE_LIMIT_DEFAULT_MAX_TOKENS: "256",
  });
  assert.deepEqual(set.apiKeys.map((k) => [k.tpm, k.tokensPerDay]), [[30000, 2000000], [30000, 2000000]]);
  assert.equal(set.rateLimitDefaultMaxTokens, 256);
  configFails({ ...BASE, GATEWAY_RATE_LIMIT_TPM: "lots" }, "GATEWAY_RATE_LIMIT_TPM", '"lots"');
  configFails({ ...BASE, GATEWAY_RATE_LIMIT_TOKENS_PER_DAY: "-5" }, "GATEWAY_RATE_LIMIT_TOKENS_PER_DAY", '"-5"');
});

Deno.test("a bad keys file names GATEWAY_API_KEYS_FILE and the field but never echoes a key", () => {
  const yaml = "keys:\n  - name: bad name\n    key: sk-secret-value\n";
  assert.throws(() => parseKeysFile(yaml, { path: "k.yaml", defaults: DEFAULTS }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, "GATEWAY_API_KEYS_FILE");
    assert.ok(error.message.includes("name"));
    assert.ok(!error.message.includes("sk-secret-value"));
    return true;
  });
});

Deno.test("an upstream may list several endpoints, each with its own base path; its base URL is the first's", () => {
  const upstreams = parseUpstreams(
    "vllm=http://vllm-0.vllm:8000,http://vllm-1.vllm:8000/;kserve=http://isvc/openai;b=http://b:1, http://c:2/x",
  );
  const vllm = upstreams.get("vllm")!;
  assert.deepEqual(vllm.endpoints, [
    { baseUrl: "http://vllm-0.vllm:8000", metricsUrl: "http://vllm-0.vllm:8000/metrics" },
    { baseUrl: "http://vllm-1.vllm:8000", metricsUrl: "http://vllm-1.vllm:8000/metrics" },
  ]);
  assert.equal(vllm.baseUrl, "http://vllm-0.vllm:8000");
  const kserve = upstreams.get("kserve")!;
  assert.deepEqual(kserve.endpoints, [{ baseUrl: "http://isvc/openai", metricsUrl: "http://isvc/metrics" }]);
  assert.deepEqual(upstreams.get("b")!.endpoints.map((e) => e.baseUrl), ["http://b:1", "http://c:2/x"]);
});

Deno.test("any list of distinct endpoint URLs parses to those endpoints in order", () => {
  const endpoint = fc.record({
    host: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
    port: fc.integer({ min: 1, max: 65535 }),
    path: fc.constantFrom("", "/", "/openai", "/a/b"),
  }).map(({ host, port, path }) => `http://${host}:${port}${path}`);
  fc.assert(
    fc.property(
      fc.uniqueArray(endpoint, {
        minLength: 1,
        maxLength: 8,
        selector: (u) => u.replace(/\/$/, ""),
      }),
      (urls) => {
        const upstream = parseUpstreams(`u=${urls.join(",")}`).get("u")!;
        assert.deepEqual(upstream.endpoints.map((e) => e.baseUrl), urls.map((u) => u.replace(/\/$/, "")));
        assert.equal(upstream.baseUrl, upstream.endpoints[0].baseUrl);
      },
    ),
  );
});

Deno.test("a bad endpoint list is rejected naming GATEWAY_UPSTREAMS, the upstream and the URL", () => {
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "m=http://a:1,not a url" }, "GATEWAY_UPSTREAMS", '"m"', "not a url");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "m=http://a:1,,http://b:1" }, "GATEWAY_UPSTREAMS", '"m"', "empty URL");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "m=http://a:1,http://a:1/" }, "GATEWAY_UPSTREAMS", '"m"', "twice");
  configFails({ ...BASE, GATEWAY_UPSTREAMS: "m=http://a:1,ftp://b" }, "GATEWAY_UPSTREAMS", "ftp://b");
});

Deno.test("routing defaults: least_request, scrape every 100 ms, 256-byte prefix blocks, half the prompt to match, no session header", () => {
  const { routing } = loadConfig(BASE);
  assert.deepEqual(routing, {
    picker: "least_request",
    loadScrapeMs: 100,
    prefixBlockBytes: 256,
    prefixCacheBlocks: 32_768,
    prefixLoadThreshold: 16,
    prefixMinMatch: 0.5,
    sessionHeader: undefined,
    discovery: new Map(),
  });
});

Deno.test("routing variables are parsed and bad ones rejected naming the variable and the value", () => {
  const routing = loadConfig({
    ...BASE,
    GATEWAY_PICKER: "PREFIX",
    GATEWAY_LOAD_SCRAPE_MS: "250",
    GATEWAY_PREFIX_BLOCK_BYTES: "64",
    GATEWAY_PREFIX_CACHE_BLOCKS: "1000",
    GATEWAY_PREFIX_LOAD_THRESHOLD: "0",
    GATEWAY_PREFIX_MIN_MATCH: "0.25",
    GATEWAY_SESSION_HEADER: "X-Session-ID",
  }).routing;
  assert.equal(routing.picker, "prefix");
  assert.equal(routing.loadScrapeMs, 250);
  assert.equal(routing.prefixBlockBytes, 64);
  assert.equal(routing.prefixCacheBlocks, 1000);
  assert.equal(routing.prefixLoadThreshold, 0);
  assert.equal(routing.prefixMinMatch, 0.25);
  assert.equal(routing.sessionHeader, "x-session-id");
  configFails({ ...BASE, GATEWAY_PICKER: "random" }, "GATEWAY_PICKER", '"random"', "round_robin|least_request");
  configFails({ ...BASE, GATEWAY_LOAD_SCRAPE_MS: "5" }, "GATEWAY_LOAD_SCRAPE_MS", '"5"');
  configFails({ ...BASE, GATEWAY_PREFIX_BLOCK_BYTES: "68" }, "GATEWAY_PREFIX_BLOCK_BYTES", "multiple of 16", "68");
  configFails({ ...BASE, GATEWAY_PREFIX_CACHE_BLOCKS: "0" }, "GATEWAY_PREFIX_CACHE_BLOCKS", '"0"');
  configFails({ ...BASE, GATEWAY_PREFIX_LOAD_THRESHOLD: "-1" }, "GATEWAY_PREFIX_LOAD_THRESHOLD", '"-1"');
  configFails({ ...BASE, GATEWAY_PREFIX_MIN_MATCH: "1.5" }, "GATEWAY_PREFIX_MIN_MATCH", '"1.5"');
  configFails({ ...BASE, GATEWAY_PREFIX_MIN_MATCH: "half" }, "GATEWAY_PREFIX_MIN_MATCH", '"half"');
  configFails({ ...BASE, GATEWAY_SESSION_HEADER: "x session" }, "GATEWAY_SESSION_HEADER", '"x session"');
});

Deno.test("a route policy may name its own picker; an unknown picker is rejected naming the field", () => {
  const parsed = parsePolicies('{"m":{"strategy":"fallback","upstreams":["a"],"picker":"prefix"}}', UPSTREAMS);
  assert.deepEqual(parsed.get("m"), { strategy: "fallback", upstreams: ["a"], picker: "prefix" });
  rejects('{"m":{"strategy":"weighted","weights":{"a":1},"picker":"fastest"}}', `["m"].picker`, '"fastest"');
});

Deno.test("GATEWAY_DISCOVERY maps upstreams to Services, with optional namespace and port", () => {
  const discovery = loadConfig({
    ...BASE,
    GATEWAY_UPSTREAMS: "a=http://a:8000;b=http://b:8000;c=http://c:8000",
    GATEWAY_DISCOVERY: "a=vllm; b = team-x/sglang:http ;c=mock:8001",
  }).routing.discovery;
  assert.deepEqual(Object.fromEntries(discovery), {
    a: { namespace: undefined, service: "vllm", port: undefined },
    b: { namespace: "team-x", service: "sglang", port: "http" },
    c: { namespace: undefined, service: "mock", port: 8001 },
  });
  const env = { ...BASE, GATEWAY_UPSTREAMS: "a=http://a:8000" };
  configFails({ ...env, GATEWAY_DISCOVERY: "zz=svc" }, "GATEWAY_DISCOVERY", '"zz"', "GATEWAY_UPSTREAMS defines a");
  configFails({ ...env, GATEWAY_DISCOVERY: "a=Bad_Service" }, "GATEWAY_DISCOVERY", '"Bad_Service"');
  configFails({ ...env, GATEWAY_DISCOVERY: "a=svc:0" }, "GATEWAY_DISCOVERY", "port 0");
  configFails({ ...env, GATEWAY_DISCOVERY: "a=svc;a=other" }, "GATEWAY_DISCOVERY", "twice");
  configFails({ ...env, GATEWAY_DISCOVERY: "a" }, "GATEWAY_DISCOVERY", "upstream=[namespace/]service[:port]");
});
