/**
 * One completion's timeline, streamed or not: wait for a slot (WORKER_MAX_NUM_SEQS), wait the time to first token,
 * then one token every WORKER_TOKEN_DELAY_MS. A client that goes away stops it and counts as finished_reason="abort".
 */

import type { WorkerConfig } from "./config.ts";
import { type CompletionFinish, CompletionFormat, DONE_EVENT, type Usage } from "./completion_format.ts";
import type { CompletionRequest } from "./completion_request.ts";
import type { FinishReason, WorkerMetrics } from "./metrics.ts";
import type { Scheduler } from "./scheduler.ts";
import { answerTokens } from "./text.ts";

/** What a completion needs from the running worker. */
export interface CompletionContext {
  config: WorkerConfig;
  metrics: WorkerMetrics;
  scheduler: Scheduler;
}

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

/** Answers a checked completion request, as SSE when it asked for a stream. */
export function completionResponse(
  request: CompletionRequest,
  signal: AbortSignal,
  context: CompletionContext,
): Response | Promise<Response> {
  return request.stream ? streamedAnswer(request, signal, context) : wholeAnswer(request, signal, context);
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

function usageOf(request: CompletionRequest, generated: number): Usage {
  return {
    prompt_tokens: request.promptTokens,
    completion_tokens: generated,
    total_tokens: request.promptTokens + generated,
  };
}

function record(
  context: CompletionContext,
  reason: FinishReason,
  tokens: { prompt: number; generated: number },
  startedAt: number,
) {
  const { metrics } = context;
  metrics.finished(reason);
  metrics.tokens(tokens.prompt, tokens.generated);
  if (reason !== "abort") metrics.requestLatency((performance.now() - startedAt) / 1000);
}

async function wholeAnswer(
  request: CompletionRequest,
  signal: AbortSignal,
  context: CompletionContext,
): Promise<Response> {
  const { config, metrics, scheduler } = context;
  const startedAt = performance.now();
  if (!scheduler.tryAcquire() && !(await scheduler.acquire(signal))) {
    record(context, "abort", { prompt: 0, generated: 0 }, startedAt);
    return new Response(null, { status: 499 });
  }
  try {
    const { tokens, finish } = planAnswer(request, config.maxTokens);
    if (config.ttftMs > 0) await sleep(config.ttftMs, signal);
    if (signal.aborted) {
      record(context, "abort", { prompt: request.promptTokens, generated: 0 }, startedAt);
      return new Response(null, { status: 499 });
    }
    const firstTokenAt = performance.now();
    metrics.timeToFirstToken((firstTokenAt - startedAt) / 1000);
    const rest = config.tokenDelayMs * (tokens.length - 1);
    if (rest > 0) await sleep(rest, signal);
    if (signal.aborted) {
      const generated = Math.min(
        tokens.length,
        1 + Math.floor((performance.now() - firstTokenAt) / config.tokenDelayMs),
      );
      record(context, "abort", { prompt: request.promptTokens, generated }, startedAt);
      return new Response(null, { status: 499 });
    }
    record(context, finish, { prompt: request.promptTokens, generated: tokens.length }, startedAt);
    const format = new CompletionFormat(request.kind, { model: request.model, includeUsage: false });
    return new Response(format.body(tokens.join(""), finish, usageOf(request, tokens.length)), {
      headers: JSON_HEADERS,
    });
  } finally {
    scheduler.release();
  }
}

function streamedAnswer(request: CompletionRequest, signal: AbortSignal, context: CompletionContext): Response {
  const stop = new AbortController();
  const onClientGone = () => stop.abort();
  signal.addEventListener("abort", onClientGone, { once: true });
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      produce(controller, request, stop, context)
        .catch((error) => controller.error(error))
        .finally(() => signal.removeEventListener("abort", onClientGone));
    },
    cancel() {
      stop.abort();
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}

/** Writes the SSE events of one answer; text written without a wait in between goes out as one encoded chunk. */
async function produce(
  controller: ReadableStreamDefaultController<Uint8Array>,
  request: CompletionRequest,
  stop: AbortController,
  context: CompletionContext,
): Promise<void> {
  const { config, metrics, scheduler } = context;
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

  const admitted = scheduler.tryAcquire() || await scheduler.acquire(stop.signal);
  let reason: FinishReason = "abort";
  let generated = 0;
  if (admitted) {
    try {
      const { tokens, finish } = planAnswer(request, config.maxTokens);
      const format = new CompletionFormat(request.kind, { model: request.model, includeUsage: request.includeUsage });
      if (config.ttftMs > 0) await sleep(config.ttftMs, stop.signal);
      if (!stop.signal.aborted) metrics.timeToFirstToken((performance.now() - startedAt) / 1000);
      for (let i = 0; i < tokens.length && !stop.signal.aborted; i++) {
        if (i > 0 && config.tokenDelayMs > 0) {
          flush();
          await sleep(config.tokenDelayMs, stop.signal);
          if (stop.signal.aborted) break;
        }
        pending += format.tokenEvent(tokens[i], i === 0);
        generated++;
      }
      if (!stop.signal.aborted) {
        pending += format.finishEvent(finish);
        if (request.includeUsage) pending += format.usageEvent(usageOf(request, generated));
        pending += DONE_EVENT;
        flush();
      }
      if (!stop.signal.aborted) reason = finish;
    } finally {
      scheduler.release();
    }
  }
  record(context, reason, { prompt: admitted ? request.promptTokens : 0, generated }, startedAt);
  try {
    controller.close();
  } catch { /* already cancelled by the client */ }
}
