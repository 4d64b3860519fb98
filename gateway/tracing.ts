/**
 * Traces: the OpenTelemetry JS SDK set up from TracingConfig (sampler, resource, batch span processor, OTLP/HTTP
 * exporter), and the request subscriber that records each request's spans with it. Loaded only when traces are on.
 */
import { ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { log } from "./log.ts";
import type { LifecycleSubscriber } from "./request_lifecycle.ts";
import { RequestSpans } from "./request_spans.ts";
import type { TracingConfig } from "./tracing_config.ts";

/** The instrumentation scope of the gateway's spans. */
export const TRACER_NAME = "nexus-gateway";
/** An export failure is logged at most this often (each failed export is retried by the exporter first). */
const LOG_EVERY_MS = 10_000;

/** Running traces: the subscriber to add to the gateway, and the flush that ends them. */
export interface Tracing {
  /** Records each request's spans. */
  subscriber: LifecycleSubscriber;
  /** Exports every span still queued and stops (on shutdown, after the last request ended). */
  shutdown(): Promise<void>;
}

/** Starts traces per `config`; `options.exporter` replaces the OTLP exporter (tests). */
export function startTracing(config: TracingConfig, options: { exporter?: SpanExporter } = {}): Tracing {
  const exporter = new LoggedExporter(options.exporter ?? otlpExporter(config), config.endpoint);
  const { batch } = config;
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...config.resourceAttributes, "service.name": config.serviceName }),
    ),
    sampler: sampler(config.sampler),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: batch.scheduleDelayMs,
        maxQueueSize: batch.maxQueueSize,
        maxExportBatchSize: batch.maxExportBatchSize,
        exportTimeoutMillis: batch.exportTimeoutMs,
      }),
    ],
  });
  return {
    subscriber: new RequestSpans(provider.getTracer(TRACER_NAME)),
    shutdown: () => provider.shutdown(),
  };
}

/** The OTLP/HTTP exporter of the configured protocol. */
function otlpExporter(config: TracingConfig): SpanExporter {
  const options = {
    url: config.endpoint,
    headers: config.headers,
    timeoutMillis: config.timeoutMs,
    compression: config.compression as NonNullable<ConstructorParameters<typeof JsonExporter>[0]>["compression"],
  };
  return config.protocol === "http/json" ? new JsonExporter(options) : new ProtobufExporter(options);
}

/** The SDK sampler for an OTEL_TRACES_SAMPLER name. */
function sampler(config: TracingConfig["sampler"]): Sampler {
  const name = config.name.replace(/^parentbased_/, "");
  const root = name === "always_on"
    ? new AlwaysOnSampler()
    : name === "always_off"
    ? new AlwaysOffSampler()
    : new TraceIdRatioBasedSampler(config.ratio);
  return config.name.startsWith("parentbased_") ? new ParentBasedSampler({ root }) : root;
}

/** An exporter that logs failed exports (at most once every LOG_EVERY_MS), so a wrong endpoint does not go unseen. */
class LoggedExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #endpoint: string;
  #loggedAt = -Infinity;

  constructor(inner: SpanExporter, endpoint: string) {
    this.#inner = inner;
    this.#endpoint = endpoint;
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter["export"]>[1]): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#warn(spans.length, result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }

  #warn(spans: number, error: Error | undefined): void {
    const now = performance.now();
    if (now - this.#loggedAt < LOG_EVERY_MS) return;
    this.#loggedAt = now;
    log("warn", "trace export failed; spans dropped", { endpoint: this.#endpoint, spans, error: error?.message });
  }
}
