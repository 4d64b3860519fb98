/**
 * One completion's timeline (chat, text or Responses API), streamed or not: wait for a slot (WORKER_MAX_NUM_SEQS),
 * look the prompt up in the prefix cache, wait the time to first token (WORKER_TTFT_MS plus
 * WORKER_PREFILL_MS_PER_TOKEN per uncached prompt token), then one token every WORKER_TOKEN_DELAY_MS. A client that
 * goes away stops it and counts as finished_reason="abort".
 */

import type { WorkerConfig } from "./config.ts";
import { type AnswerFormat, type CompletionFinish, CompletionFormat, type Usage } from "./completion_format.ts";
import type { CompletionRequest } from "./completion_request.ts";
import type { FinishReason, WorkerMetrics } from "./metrics.ts";
import { type Allocation, BLOCK_TOKENS, PrefixCache, promptBlockHashes } from "./prefix_cache.ts";
import { ResponsesFormat } from "./responses_format.ts";
import { Scheduler } from "./scheduler.ts";
import { answerTokens } from "./text.ts";

const encoder = new TextEncoder();
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

/** The tokens of an answer and why it ends: WORKER_MAX_TOKENS tokens ("stop"), fewer if the request caps it ("length"). */
export function planAnswer(
  request: CompletionRequest,
  maxTokens: number,
): { tokens: string[]; finish: CompletionFinish } {
  const cut = request.maxTokens !== undefined && request.maxTokens < maxTokens;
  return {
    tokens: answerTokens(request.prompt, cut ? request.maxTokens! : maxTokens),
    finish: cut ? "length" : "stop",
  };
}

/** The wire format of a request's answer. */
function formatFor(request: CompletionRequest): AnswerFormat {
  return request.kind === "responses"
    ? new ResponsesFormat({ model: request.model, maxOutputTokens: request.maxTokens })
    : new CompletionFormat(request.kind, { model: request.model, includeUsage: request.includeUsage });
}

/** Time to first token: WORKER_TTFT_MS plus WORKER_PREFILL_MS_PER_TOKEN for each prompt token not in the cache. */
export function firstTokenDelayMs(
  config: Pick<WorkerConfig, "ttftMs" | "prefillMsPerToken">,
  tokens: { promptTokens: number; cachedTokens: number },
): number {
  return config.ttftMs + config.prefillMsPerToken * (tokens.promptTokens - tokens.cachedTokens);
}

/** Resolves after `ms`, or as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The answer to a client that has gone away: nobody reads it. */
function clientGone(): Response {
  return new Response(null, { status: 499 });
}

function usageOf(request: CompletionRequest, generated: number): Usage {
  const prompt = request.promptTokens;
  return { prompt_tokens: prompt, completion_tokens: generated, total_tokens: prompt + generated };
}

/** How one request ended, for the metrics. */
interface Outcome {
  reason: FinishReason;
  /** Prompt tokens processed (0 when it never got a slot). */
  prompt: number;
  generated: number;
  startedAt: number;
}

/** Generates answers for the worker: admission, pacing, SSE or JSON, and the vLLM metrics of each request. */
export class Completions {
  readonly #config: WorkerConfig;
  readonly #metrics: WorkerMetrics;
  readonly #scheduler: Scheduler;
  readonly #cache: PrefixCache;

  constructor(config: WorkerConfig, metrics: WorkerMetrics) {
    this.#config = config;
    this.#metrics = metrics;
    this.#scheduler = new Scheduler(config.maxNumSeqs, metrics);
    this.#cache = new PrefixCache(config.kvBlocks);
  }

  /** Answers a checked request, as SSE when it asked for a stream; `signal` aborts when the client goes away. */
  respond(request: CompletionRequest, signal: AbortSignal): Response | Promise<Response> {
    return request.stream ? this.#streamed(request, signal) : this.#whole(request, signal);
  }

  /** Admits an admitted request to the KV cache: counts the prefix lookup; returns its blocks and time to first token. */
  #admit(request: CompletionRequest, answerTokens: number): { allocation: Allocation; ttftMs: number } {
    const promptTokens = request.promptTokens;
    const allocation = this.#cache.admit(promptBlockHashes(request.prompt), { promptTokens, answerTokens });
    const cached = allocation.hitBlocks * BLOCK_TOKENS;
    this.#metrics.prefixCache(promptTokens, cached);
    this.#metrics.kvUsage(this.#cache.usage);
    return { allocation, ttftMs: firstTokenDelayMs(this.#config, { promptTokens, cachedTokens: cached }) };
  }

  /** After prefill the prompt's blocks are cached. */
  #prefilled(allocation: Allocation): void {
    this.#cache.commit(allocation);
    this.#metrics.kvUsage(this.#cache.usage);
  }

  /** The request no longer holds KV blocks. */
  #free(allocation: Allocation): void {
    this.#cache.release(allocation);
    this.#metrics.kvUsage(this.#cache.usage);
  }

  #record(outcome: Outcome): void {
    this.#metrics.finished(outcome.reason);
    this.#metrics.tokens(outcome.prompt, outcome.generated);
    if (outcome.reason !== "abort") this.#metrics.requestLatency((performance.now() - outcome.startedAt) / 1000);
  }

  async #whole(request: CompletionRequest, signal: AbortSignal): Promise<Response> {
    const startedAt = performance.now();
    if (!this.#scheduler.tryAcquire() && !(await this.#scheduler.acquire(signal))) {
      this.#record({ reason: "abort", prompt: 0, generated: 0, startedAt });
      return clientGone();
    }
    const { tokenDelayMs, maxTokens } = this.#config;
    const { tokens, finish } = planAnswer(request, maxTokens);
    const { allocation, ttftMs } = this.#admit(request, tokens.length);
    try {
      if (ttftMs > 0) await sleep(ttftMs, signal);
      if (signal.aborted) {
        this.#record({ reason: "abort", prompt: request.promptTokens, generated: 0, startedAt });
        return clientGone();
      }
      this.#prefilled(allocation);
      const firstTokenAt = performance.now();
      this.#metrics.timeToFirstToken((firstTokenAt - startedAt) / 1000);
      const rest = tokenDelayMs * (tokens.length - 1);
      if (rest > 0) await sleep(rest, signal);
      if (signal.aborted) {
        const generated = Math.min(tokens.length, 1 + Math.floor((performance.now() - firstTokenAt) / tokenDelayMs));
        this.#record({ reason: "abort", prompt: request.promptTokens, generated, startedAt });
        return clientGone();
      }
      this.#record({ reason: finish, prompt: request.promptTokens, generated: tokens.length, startedAt });
      const body = formatFor(request).body(tokens.join(""), finish, usageOf(request, tokens.length));
      return new Response(body, { headers: JSON_HEADERS });
    } finally {
      this.#free(allocation);
      this.#scheduler.release();
    }
  }

  #streamed(request: CompletionRequest, signal: AbortSignal): Response {
    const { ttftMs, tokenDelayMs, prefillMsPerToken } = this.#config;
    if (ttftMs === 0 && tokenDelayMs === 0 && prefillMsPerToken === 0 && this.#scheduler.tryAcquire()) {
      return new Response(this.#instantStream(request), { headers: SSE_HEADERS });
    }
    const stop = new AbortController();
    const onClientGone = () => stop.abort();
    signal.addEventListener("abort", onClientGone, { once: true });
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#produce(request, { controller, stop })
          .catch((error) => controller.error(error))
          .finally(() => signal.removeEventListener("abort", onClientGone));
      },
      cancel: () => stop.abort(),
    });
    return new Response(body, { headers: SSE_HEADERS });
  }

  /** The whole SSE body at once, when nothing is to be waited for; the caller holds a slot, this gives it back. */
  #instantStream(request: CompletionRequest): string {
    const startedAt = performance.now();
    const { tokens, finish } = planAnswer(request, this.#config.maxTokens);
    const { allocation } = this.#admit(request, tokens.length); // no prefill time: WORKER_PREFILL_MS_PER_TOKEN is 0
    try {
      this.#prefilled(allocation);
      const format = formatFor(request);
      this.#metrics.timeToFirstToken((performance.now() - startedAt) / 1000);
      let body = format.streamStart();
      for (let i = 0; i < tokens.length; i++) body += format.tokenEvent(tokens[i], i === 0);
      body += format.streamEnd(finish, usageOf(request, tokens.length));
      this.#record({ reason: finish, prompt: request.promptTokens, generated: tokens.length, startedAt });
      return body;
    } finally {
      this.#free(allocation);
      this.#scheduler.release();
    }
  }

  /** Writes the SSE events of one answer; text written without a wait in between goes out as one encoded chunk. */
  async #produce(
    request: CompletionRequest,
    { controller, stop }: { controller: ReadableStreamDefaultController<Uint8Array>; stop: AbortController },
  ): Promise<void> {
    const { tokenDelayMs, maxTokens } = this.#config;
    const startedAt = performance.now();
    let pending = "";
    const flush = () => {
      if (pending === "" || stop.signal.aborted) return;
      try {
        controller.enqueue(encoder.encode(pending));
      } catch {
        stop.abort(); // the stream was cancelled under us
      }
      pending = "";
    };

    const admitted = this.#scheduler.tryAcquire() || await this.#scheduler.acquire(stop.signal);
    let reason: FinishReason = "abort";
    let generated = 0;
    if (admitted) {
      const { tokens, finish } = planAnswer(request, maxTokens);
      const { allocation, ttftMs } = this.#admit(request, tokens.length);
      try {
        const format = formatFor(request);
        if (ttftMs > 0) await sleep(ttftMs, stop.signal);
        if (!stop.signal.aborted) {
          this.#prefilled(allocation);
          this.#metrics.timeToFirstToken((performance.now() - startedAt) / 1000);
        }
        pending += format.streamStart();
        for (let i = 0; i < tokens.length && !stop.signal.aborted; i++) {
          if (i > 0 && tokenDelayMs > 0) {
            flush();
            await sleep(tokenDelayMs, stop.signal);
            if (stop.signal.aborted) break;
          }
          pending += format.tokenEvent(tokens[i], i === 0);
          generated++;
        }
        if (!stop.signal.aborted) {
          pending += format.streamEnd(finish, usageOf(request, generated));
          flush();
        }
        if (!stop.signal.aborted) reason = finish;
      } finally {
        this.#free(allocation);
        this.#scheduler.release();
      }
    }
    this.#record({ reason, prompt: admitted ? request.promptTokens : 0, generated, startedAt });
    try {
      controller.close();
    } catch { /* already cancelled by the client */ }
  }
}
