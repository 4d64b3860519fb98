/** The mock worker as a process: real `deno run worker/main.ts` children, the official openai client and raw fetch. */

import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI, assertOpenAICompletionChunk } from "./support/openai_schema.ts";
import { variables } from "../worker/config.ts";
import { repoRoot } from "./support/paths.ts";
import { eventually } from "./support/eventually.ts";
import { runDeno, type Service, startWorker } from "./support/process.ts";
import { sseData } from "./support/sse.ts";

/** Fast settings: the tests wait on events (chunks, metrics), never on durations. */
const FAST = { WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "8" };
/** Slow enough that a stream is still running when the test acts on it. */
const SLOW = { WORKER_TOKEN_DELAY_MS: "200", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "50" };

const messages = [{ role: "user" as const, content: "hello" }];

function client(worker: Service, path = "/v1"): OpenAI {
  return new OpenAI({ baseURL: `${worker.url}${path}`, apiKey: "unused", maxRetries: 0 });
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'vllm:num_requests_running{model_name="m"}'). */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

async function metrics(worker: Service): Promise<string> {
  const response = await fetch(`${worker.url}/metrics`);
  assert.equal(response.status, 200);
  return await response.text();
}

function post(worker: Service, path: string, body: unknown): Promise<Response> {
  return fetch(`${worker.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const series = (name: string, extra = "") => `${name}{model_name="mock-worker"${extra}}`;
const finished = (reason: string) => series("vllm:request_success_total", `,finished_reason="${reason}"`);

Deno.test("the worker answers chat and text completions, streamed and not, as OpenAI's schemas say", async (t) => {
  await using worker = await startWorker(FAST);
  const openai = client(worker);

  await t.step("a chat completion is schema-valid, deterministic and counts its tokens", async () => {
    const response = await post(worker, "/v1/chat/completions", { model: "mock-worker", messages });
    assert.equal(response.status, 200);
    const body = await response.json();
    assertOpenAI("CreateChatCompletionResponse", body);
    assert.equal(body.choices[0].finish_reason, "stop");
    assert.deepEqual(body.usage, { prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 });
    const again = await openai.chat.completions.create({ model: "mock-worker", messages });
    assert.equal(again.choices[0].message.content, body.choices[0].message.content);
    assert.notEqual(again.id, body.id);
    const other = await openai.chat.completions.create({
      model: "mock-worker",
      messages: [{ role: "user", content: "bye" }],
    });
    assert.notEqual(other.choices[0].message.content, body.choices[0].message.content);
  });

  await t.step(
    "a streamed chat completion sends the same text in schema-valid chunks and ends with [DONE]",
    async () => {
      const whole = await openai.chat.completions.create({ model: "mock-worker", messages });
      const response = await post(worker, "/v1/chat/completions", { model: "mock-worker", messages, stream: true });
      const data = await sseData(response);
      assert.equal(data.pop(), "[DONE]");
      const chunks = data.map((d) => JSON.parse(d));
      for (const chunk of chunks) assertOpenAI("CreateChatCompletionStreamResponse", chunk);
      assert.equal(chunks[0].choices[0].delta.role, "assistant");
      assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), whole.choices[0].message.content);
      assert.deepEqual(chunks.map((c) => c.choices[0].finish_reason), [...Array(8).fill(null), "stop"]);
      assert.equal(new Set(chunks.map((c) => c.id)).size, 1);

      let text = "";
      const stream = await openai.chat.completions.create({ model: "mock-worker", messages, stream: true });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      assert.equal(text, whole.choices[0].message.content);
    },
  );

  await t.step("stream_options.include_usage adds a final chunk with usage and no choices", async () => {
    const stream = await openai.chat.completions.create({
      model: "mock-worker",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 });
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
    for (const chunk of chunks) assertOpenAI("CreateChatCompletionStreamResponse", chunk);
  });

  await t.step("text completions, streamed and not, are schema-valid and agree", async () => {
    const response = await post(worker, "/v1/completions", { model: "mock-worker", prompt: "once upon a time" });
    const body = await response.json();
    assertOpenAI("CreateCompletionResponse", body);
    assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 8, total_tokens: 12 });
    const raw = await post(worker, "/v1/completions", {
      model: "mock-worker",
      prompt: "once upon a time",
      stream: true,
      stream_options: { include_usage: true },
    });
    const data = await sseData(raw);
    assert.equal(data.pop(), "[DONE]");
    const chunks = data.map((d) => JSON.parse(d));
    for (const chunk of chunks) assertOpenAICompletionChunk(chunk);
    assert.deepEqual(chunks.at(-1).usage, body.usage);
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), body.choices[0].text);

    let text = "";
    const stream = await openai.completions.create({ model: "mock-worker", prompt: "once upon a time", stream: true });
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    assert.equal(text, body.choices[0].text);
  });

  await t.step("max_tokens and max_completion_tokens cut the answer with finish_reason length", async () => {
    const chat = await openai.chat.completions.create({ model: "mock-worker", messages, max_completion_tokens: 3 });
    assert.equal(chat.choices[0].finish_reason, "length");
    assert.equal(chat.usage?.completion_tokens, 3);
    assert.equal(chat.choices[0].message.content?.split(" ").length, 3);
    const text = await openai.completions.create({ model: "mock-worker", prompt: "x", max_tokens: 2 });
    assert.equal(text.choices[0].finish_reason, "length");
    assert.equal(text.usage?.completion_tokens, 2);
    const stream = await openai.chat.completions.create({
      model: "mock-worker",
      messages,
      max_tokens: 1,
      stream: true,
    });
    const reasons = [];
    for await (const chunk of stream) reasons.push(chunk.choices[0]?.finish_reason);
    assert.deepEqual(reasons, [null, "length"]);
    const roomy = await openai.chat.completions.create({ model: "mock-worker", messages, max_tokens: 100 });
    assert.equal(roomy.choices[0].finish_reason, "stop");
    assert.equal(roomy.usage?.completion_tokens, 8);
  });

  await t.step("/v1/models lists the one model and /health answers 200", async () => {
    const response = await fetch(`${worker.url}/v1/models`);
    const body = await response.json();
    assertOpenAI("ListModelsResponse", body);
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);
    assert.deepEqual(models, ["mock-worker"]);
    const health = await fetch(`${worker.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  });

  await t.step("bad input gets OpenAI-style errors: 400, 404 and 405", async () => {
    const cases: [string, unknown, string | null][] = [
      ["/v1/chat/completions", "{not json", null],
      ["/v1/chat/completions", { messages }, "model"],
      ["/v1/chat/completions", { model: "mock-worker" }, "messages"],
      ["/v1/completions", { model: "mock-worker" }, "prompt"],
      ["/v1/completions", [1, 2], null],
    ];
    for (const [path, body, param] of cases) {
      const response = await post(worker, path, body);
      assert.equal(response.status, 400, `${path} ${JSON.stringify(body)}`);
      const error = await response.json();
      assertOpenAI("ErrorResponse", error);
      assert.equal(error.error.param, param);
    }
    await assert.rejects(
      openai.chat.completions.create({ model: "mock-worker", messages: [] }),
      (error) => error instanceof OpenAI.BadRequestError && error.param === "messages",
    );
    const unknown = await fetch(`${worker.url}/v1/nothing-here`);
    assert.equal(unknown.status, 404);
    assertOpenAI("ErrorResponse", await unknown.json());
    const wrongMethod = await fetch(`${worker.url}/v1/chat/completions`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "POST");
    assertOpenAI("ErrorResponse", await wrongMethod.json());
  });

  await t.step("/metrics uses vLLM's names and counts the answers and tokens", async () => {
    const before = await metrics(worker);
    const answer = await openai.chat.completions.create({ model: "mock-worker", messages, max_tokens: 5 });
    const after = await metrics(worker);
    const grew = (name: string) => sample(after, name) - sample(before, name);
    assert.equal(grew(finished("length")), 1);
    assert.equal(grew(finished("stop")), 0);
    assert.equal(grew(series("vllm:prompt_tokens_total")), answer.usage?.prompt_tokens);
    assert.equal(grew(series("vllm:generation_tokens_total")), answer.usage?.completion_tokens);
    assert.equal(grew(series("vllm:time_to_first_token_seconds_count")), 1);
    assert.equal(grew(series("vllm:e2e_request_latency_seconds_count")), 1);
    assert.equal(sample(after, series("vllm:num_requests_running")), 0);
    assert.equal(sample(after, series("vllm:num_requests_waiting")), 0);
    assert.match(after, /# TYPE vllm:time_to_first_token_seconds histogram/);
    assert.ok(sample(after, 'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="mock-worker"}') >= 1);
  });
});

Deno.test("a paced stream (time to first token, delay between tokens) sends the same schema-valid answer as a whole one", async () => {
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "5", WORKER_TTFT_MS: "5", WORKER_MAX_TOKENS: "6" });
  const whole = await client(worker).chat.completions.create({ model: "mock-worker", messages });
  const response = await post(worker, "/v1/chat/completions", {
    model: "mock-worker",
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const data = await sseData(response);
  assert.equal(data.pop(), "[DONE]");
  const chunks = data.map((d) => JSON.parse(d));
  for (const chunk of chunks) assertOpenAI("CreateChatCompletionStreamResponse", chunk);
  assert.equal(chunks.length, 6 + 2);
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), whole.choices[0].message.content);
  assert.deepEqual(chunks.at(-1).usage, whole.usage);
  const text = await post(worker, "/v1/completions", { model: "mock-worker", prompt: "x", stream: true });
  for (const chunk of (await sseData(text)).slice(0, -1)) assertOpenAICompletionChunk(JSON.parse(chunk));
});

Deno.test("a client that goes away mid-answer counts as an abort and the worker stops generating", async (t) => {
  await using worker = await startWorker(SLOW);
  const openai = client(worker);

  await t.step("streamed: abort after the first chunk", async () => {
    const before = sample(await metrics(worker), finished("abort"));
    const stream = await openai.chat.completions.create({ model: "mock-worker", messages, stream: true });
    for await (const chunk of stream) {
      assert.equal(chunk.choices[0].delta.role, "assistant");
      break; // leaving the loop aborts the request
    }
    await eventually(async () => {
      const text = await metrics(worker);
      assert.equal(sample(text, finished("abort")), before + 1);
      assert.equal(sample(text, series("vllm:num_requests_running")), 0);
    });
    const text = await metrics(worker);
    assert.equal(sample(text, finished("stop")), 0);
    assert.ok(sample(text, series("vllm:generation_tokens_total")) < 50, "it kept generating after the abort");
  });

  await t.step("not streamed: abort while the answer is being generated", async () => {
    const before = sample(await metrics(worker), finished("abort"));
    const controller = new AbortController();
    const request = openai.chat.completions.create({ model: "mock-worker", messages }, { signal: controller.signal });
    await eventually(async () => assert.equal(sample(await metrics(worker), series("vllm:num_requests_running")), 1));
    controller.abort();
    await assert.rejects(request);
    await eventually(async () => {
      const text = await metrics(worker);
      assert.equal(sample(text, finished("abort")), before + 1);
      assert.equal(sample(text, series("vllm:num_requests_running")), 0);
    });
    assert.equal(sample(await metrics(worker), finished("stop")), 0);
  });
});

Deno.test("requests over WORKER_MAX_NUM_SEQS wait, shown as vllm:num_requests_waiting", async () => {
  await using worker = await startWorker({ ...SLOW, WORKER_MAX_NUM_SEQS: "1", WORKER_MAX_TOKENS: "3" });
  const openai = client(worker);
  const answers = [1, 2].map(() => openai.chat.completions.create({ model: "mock-worker", messages }));
  await eventually(async () => {
    const text = await metrics(worker);
    assert.equal(sample(text, series("vllm:num_requests_running")), 1);
    assert.equal(sample(text, series("vllm:num_requests_waiting")), 1);
  });
  for (const answer of await Promise.all(answers)) assert.equal(answer.choices[0].finish_reason, "stop");
  const text = await metrics(worker);
  assert.equal(sample(text, series("vllm:num_requests_waiting")), 0);
  assert.equal(sample(text, finished("stop")), 2);
});

Deno.test("WORKER_BASE_PATH serves the API under a prefix, like a KServe predictor", async () => {
  await using worker = await startWorker({ ...FAST, WORKER_BASE_PATH: "/openai" });
  const answer = await client(worker, "/openai/v1").chat.completions.create({ model: "mock-worker", messages });
  assertOpenAI("CreateChatCompletionResponse", JSON.parse(JSON.stringify(answer)));
  const unprefixed = await post(worker, "/v1/chat/completions", { model: "mock-worker", messages });
  assert.equal(unprefixed.status, 404);
  assertOpenAI("ErrorResponse", await unprefixed.json());
  const health = await fetch(`${worker.url}/health`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("WORKER_LOG_REQUESTS logs each request's X-Request-ID and which auth headers arrived, never their values", async () => {
  await using worker = await startWorker({ ...FAST, WORKER_LOG_REQUESTS: "true" });
  const response = await fetch(`${worker.url}/v1/models`, {
    headers: { "x-request-id": "req-123", authorization: "Bearer secret-value" },
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
  const line = await worker.child.waitForLine(/"request_id":"req-123"/);
  const entry = JSON.parse(line);
  assert.deepEqual(
    { msg: entry.msg, method: entry.method, path: entry.path, status: entry.status, auth: entry.auth_headers },
    { msg: "request", method: "GET", path: "/v1/models", status: 200, auth: ["authorization"] },
  );
  assert.deepEqual([entry.service, entry.level, Number.isNaN(Date.parse(entry.time))], ["worker", "info", false]);
  assert.ok(!worker.child.output().includes("secret-value"));
});

Deno.test("WORKER_FAIL_STATUS makes every API request fail with that status and an OpenAI error body", async () => {
  await using worker = await startWorker({ ...FAST, WORKER_FAIL_STATUS: "503" });
  await assert.rejects(
    client(worker).chat.completions.create({ model: "mock-worker", messages }),
    (error) => error instanceof OpenAI.APIError && error.status === 503,
  );
  for (const path of ["/v1/completions", "/v1/models", "/v1/embeddings", "/tokenize", "/v2/rerank"]) {
    const response = path === "/v1/models" ? await fetch(`${worker.url}${path}`) : await post(worker, path, {});
    assert.equal(response.status, 503);
    assertOpenAI("ErrorResponse", await response.json());
  }
  const health = await fetch(`${worker.url}/health`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("on SIGTERM the worker stops accepting, lets a stream in flight finish and exits 0", async () => {
  const worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "50", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "10" });
  try {
    const response = await post(worker, "/v1/chat/completions", { model: "mock-worker", messages, stream: true });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = (await reader.read()).value ?? "";
    worker.child.kill("SIGTERM");
    await worker.child.waitForLine(/"msg":"draining"/);
    await assert.rejects(fetch(`${worker.url}/health`).then((r) => r.body?.cancel()));
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.ok(text.endsWith("data: [DONE]\n\n"), text);
    assert.match(text, /"finish_reason":"stop"/);
    const status = await worker.child.exited;
    assert.equal(status.code, 0);
  } finally {
    await worker.stop();
  }
});

Deno.test("bad WORKER_* values exit non-zero with a message naming the variable and the value", async () => {
  for (
    const [name, value] of [["WORKER_MAX_TOKENS", "lots"], ["WORKER_PORT", "70000"], ["WORKER_FAIL_STATUS", "200"]]
  ) {
    const result = await runDeno("worker/main.ts", { env: { [name]: value } });
    assert.notEqual(result.code, 0, `${name}=${value} was accepted`);
    assert.ok(result.stderr.includes(`${name}="${value}"`), result.stderr);
  }
});

Deno.test("the README's worker table lists every WORKER_* variable with its default", async () => {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  for (const variable of variables) {
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${variable.name}\``));
    assert.ok(row, `README has no row for ${variable.name}`);
    const shown = row.split("|")[2].trim();
    const expected = variable.default === undefined
      ? "unset"
      : variable.default === ""
      ? "empty"
      : `\`${variable.default}\``;
    assert.equal(shown, expected, `README default of ${variable.name}`);
  }
});
