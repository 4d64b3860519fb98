import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, parseConfig, variables } from "./config.ts";

const integerVariables: [string, number, number][] = [
  ["WORKER_PORT", 0, 65535],
  ["WORKER_TOKEN_DELAY_MS", 0, 60_000],
  ["WORKER_MAX_TOKENS", 1, 100_000],
  ["WORKER_TTFT_MS", 0, 600_000],
  ["WORKER_MAX_NUM_SEQS", 1, 1_000_000],
  ["WORKER_KV_BLOCKS", 1, 100_000_000],
  ["WORKER_FAIL_STATUS", 400, 599],
  ["WORKER_DRAIN_DELAY_MS", 0, 3_600_000],
  ["WORKER_SHUTDOWN_GRACE_MS", 0, 3_600_000],
  ["WORKER_EMBEDDING_DIM", 1, 65_536],
];

function rejection(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

Deno.test("an empty environment gives the documented defaults", () => {
  assert.deepEqual(parseConfig({}), {
    port: 8001,
    host: "0.0.0.0",
    model: "mock-worker",
    tokenDelayMs: 25,
    maxTokens: 16,
    ttftMs: 100,
    maxNumSeqs: 256,
    kvBlocks: 16_384,
    prefillMsPerToken: 0,
    basePath: "",
    failStatus: undefined,
    drainDelayMs: 5000,
    shutdownGraceMs: 5000,
    logRequests: false,
    embeddingDim: 384,
  });
  assert.deepEqual(
    variables.map((v) => [v.name, v.default]),
    [
      ["WORKER_PORT", "8001"],
      ["WORKER_HOST", "0.0.0.0"],
      ["WORKER_MODEL", "mock-worker"],
      ["WORKER_TOKEN_DELAY_MS", "25"],
      ["WORKER_MAX_TOKENS", "16"],
      ["WORKER_TTFT_MS", "100"],
      ["WORKER_MAX_NUM_SEQS", "256"],
      ["WORKER_KV_BLOCKS", "16384"],
      ["WORKER_PREFILL_MS_PER_TOKEN", "0"],
      ["WORKER_BASE_PATH", ""],
      ["WORKER_FAIL_STATUS", undefined],
      ["WORKER_DRAIN_DELAY_MS", "5000"],
      ["WORKER_SHUTDOWN_GRACE_MS", "5000"],
      ["WORKER_LOG_REQUESTS", "false"],
      ["WORKER_EMBEDDING_DIM", "384"],
    ],
  );
});

Deno.test("empty variables count as unset and other variables are ignored", () => {
  assert.deepEqual(
    parseConfig({ WORKER_PORT: "", WORKER_FAIL_STATUS: " ", WORKER_SERVICE_HOST: "x" }),
    parseConfig({}),
  );
});

Deno.test("any in-range whole number parses to that number", () => {
  for (const [name, min, max] of integerVariables) {
    fc.assert(fc.property(fc.integer({ min, max }), (value) => {
      const config = parseConfig({ [name]: String(value) }) as unknown as Record<string, unknown>;
      assert.ok(Object.values(config).includes(value), `${name}=${value} not in ${JSON.stringify(config)}`);
    }));
  }
});

Deno.test("any integer variable that is out of range or not a whole number is rejected, naming variable and value", () => {
  const notWhole = fc.oneof(
    fc.string().filter((s) => s.trim() !== "" && !/^\d+$/.test(s.trim())),
    fc.double({ noInteger: true, noNaN: true }).map(String),
  );
  for (const [name, min, max] of integerVariables) {
    const outOfRange = fc.oneof(
      fc.integer({ min: max + 1 }),
      min > 0 ? fc.integer({ min: 0, max: min - 1 }) : fc.constant(max + 1),
    );
    fc.assert(fc.property(fc.oneof(notWhole, outOfRange.map(String)), (value) => {
      const message = rejection({ [name]: value });
      assert.ok(message.includes(`${name}=${JSON.stringify(value)}`), message);
    }));
  }
});

Deno.test("the base path is normalized to no trailing slash and must be a plain path", () => {
  assert.equal(parseConfig({ WORKER_BASE_PATH: "/openai/" }).basePath, "/openai");
  assert.equal(parseConfig({ WORKER_BASE_PATH: "/" }).basePath, "");
  assert.equal(parseConfig({ WORKER_BASE_PATH: "/a/b-c.d" }).basePath, "/a/b-c.d");
  for (const bad of ["openai", "/open ai", "/openai?x=1", "//x"]) {
    assert.match(
      rejection({ WORKER_BASE_PATH: bad }),
      new RegExp(`WORKER_BASE_PATH=${JSON.stringify(bad).replace(/[?]/g, "\\?")}`),
    );
  }
});

Deno.test("a model id with spaces is rejected", () => {
  assert.match(rejection({ WORKER_MODEL: "my model" }), /WORKER_MODEL="my model"/);
});

Deno.test("WORKER_LOG_REQUESTS takes true/false or 1/0 and nothing else", () => {
  assert.equal(parseConfig({ WORKER_LOG_REQUESTS: "true" }).logRequests, true);
  assert.equal(parseConfig({ WORKER_LOG_REQUESTS: "1" }).logRequests, true);
  assert.equal(parseConfig({ WORKER_LOG_REQUESTS: "false" }).logRequests, false);
  assert.equal(parseConfig({ WORKER_LOG_REQUESTS: "0" }).logRequests, false);
  assert.match(rejection({ WORKER_LOG_REQUESTS: "yes" }), /WORKER_LOG_REQUESTS="yes": must be true or false/);
});

Deno.test("WORKER_PREFILL_MS_PER_TOKEN takes decimals from 0 to 1000 and nothing else", () => {
  assert.equal(parseConfig({ WORKER_PREFILL_MS_PER_TOKEN: "0.05" }).prefillMsPerToken, 0.05);
  assert.equal(parseConfig({ WORKER_PREFILL_MS_PER_TOKEN: ".5" }).prefillMsPerToken, 0.5);
  assert.equal(parseConfig({ WORKER_PREFILL_MS_PER_TOKEN: "2" }).prefillMsPerToken, 2);
  for (const bad of ["-1", "1e3", "fast", "1001", "0.1.2"]) {
    assert.match(rejection({ WORKER_PREFILL_MS_PER_TOKEN: bad }), new RegExp(`WORKER_PREFILL_MS_PER_TOKEN="${bad}"`));
  }
});
