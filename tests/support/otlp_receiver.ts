/**
 * A small OTLP/HTTP trace receiver for tests: it accepts POST /v1/traces, keeps every export's headers and body, and
 * decodes JSON exports (OTLP/JSON) into a flat list of spans with their attributes.
 */

/** An attribute value as OTLP/JSON carries it: which field it came in, and its value. */
export interface AttributeValue {
  type: "stringValue" | "intValue" | "doubleValue" | "boolValue" | "other";
  value: unknown;
}

/** One received span, with the resource and scope it came under. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  /** Attribute values by key (OTLP/JSON's typed value unwrapped; int64 as a number). */
  attributes: Record<string, string | number | boolean>;
  /** The OTLP/JSON field each attribute came in (`intValue`, `stringValue`, ...). */
  attributeTypes: Record<string, AttributeValue["type"]>;
  /** OTLP status: code 2 is ERROR. */
  status: { code?: number; message?: string };
  /** The resource's attributes. */
  resource: Record<string, string | number | boolean>;
  /** The instrumentation scope's name. */
  scope: string;
}

/** One export as it arrived. */
export interface ReceivedExport {
  path: string;
  headers: Headers;
  body: Uint8Array;
}

/** OTLP/JSON span kinds. */
export const SPAN_KIND = { SERVER: 2, CLIENT: 3 } as const;
/** OTLP/JSON status code of an error. */
export const STATUS_ERROR = 2;

type OtlpValue = Record<string, unknown>;
type OtlpKeyValue = { key: string; value: OtlpValue };

function unwrap(value: OtlpValue): AttributeValue {
  for (const type of ["stringValue", "intValue", "doubleValue", "boolValue"] as const) {
    if (type in value) return { type, value: type === "intValue" ? Number(value[type]) : value[type] };
  }
  return { type: "other", value };
}

function attributeMap(list: OtlpKeyValue[] | undefined): {
  values: Record<string, string | number | boolean>;
  types: Record<string, AttributeValue["type"]>;
} {
  const values: Record<string, string | number | boolean> = {};
  const types: Record<string, AttributeValue["type"]> = {};
  for (const { key, value } of list ?? []) {
    const unwrapped = unwrap(value);
    values[key] = unwrapped.value as string | number | boolean;
    types[key] = unwrapped.type;
  }
  return { values, types };
}

/** The spans of one OTLP/JSON ExportTraceServiceRequest. */
export function spansOf(json: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  // deno-lint-ignore no-explicit-any
  for (const resourceSpans of (json as any).resourceSpans ?? []) {
    const resource = attributeMap(resourceSpans.resource?.attributes).values;
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const { values, types } = attributeMap(span.attributes);
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: span.kind,
          startTimeUnixNano: BigInt(span.startTimeUnixNano),
          endTimeUnixNano: BigInt(span.endTimeUnixNano),
          attributes: values,
          attributeTypes: types,
          status: span.status ?? {},
          resource,
          scope: scopeSpans.scope?.name ?? "",
        });
      }
    }
  }
  return spans;
}

/** A running receiver; dispose to stop it. */
export interface OtlpReceiver extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: an OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** Every export received so far. */
  exports: ReceivedExport[];
  /** Every span of every JSON export so far. */
  spans(): ReceivedSpan[];
}

/** Starts a receiver on a free port of 127.0.0.1; it accepts every export: 200 with an empty answer in its encoding. */
export function startOtlpReceiver(): OtlpReceiver {
  const exports: ReceivedExport[] = [];
  const decoder = new TextDecoder();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.bytes();
    exports.push({ path: new URL(request.url).pathname, headers: request.headers, body });
    const json = request.headers.get("content-type")?.startsWith("application/json");
    return json
      ? new Response("{}", { headers: { "content-type": "application/json" } })
      : new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    exports,
    spans: () =>
      exports
        .filter((e) => e.headers.get("content-type")?.startsWith("application/json"))
        .flatMap((e) => spansOf(JSON.parse(decoder.decode(e.body)))),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
