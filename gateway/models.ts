/**
 * The model list for `GET /v1/models`: the models that have a policy plus what every upstream says it serves. Each
 * upstream is asked at most once per cache period (answers and failures alike); one that is down keeps its last list.
 */
import type { Upstream } from "./config.ts";
import { log } from "./log.ts";

/** An OpenAI model object. */
export interface ModelObject {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** Options of the catalog. */
export interface ModelCatalogOptions {
  /** Models that have a routing policy. */
  policyModels: string[];
  /** The upstreams asked for their models, in order (the first to list a model names its owner). */
  upstreams: readonly Upstream[];
  /** How long an upstream's answer (or failure) is reused. */
  cacheMs?: number;
  /** Timeout of one upstream's call. */
  timeoutMs?: number;
}

/** What one upstream listed, and when it was last asked. */
interface UpstreamList {
  /** `performance.now()` of the last call (good or not). */
  at: number;
  /** Its last good list (empty before the first). */
  models: ModelObject[];
  /** The call in flight, shared by concurrent requests. */
  pending?: Promise<void>;
}

/** Builds the model list, caching each upstream's answer briefly. */
export class ModelCatalog {
  readonly #options: ModelCatalogOptions;
  readonly #created = Math.floor(Date.now() / 1000);
  readonly #lists = new Map<string, UpstreamList>();

  constructor(options: ModelCatalogOptions) {
    this.#options = options;
  }

  /** Every servable model, filtered to `allowed` when given; `requestId` goes into any log line. */
  async list(allowed: ReadonlySet<string> | undefined, requestId: string): Promise<ModelObject[]> {
    const upstreams = this.#options.upstreams;
    const lists = await Promise.all(upstreams.map((upstream) => this.#upstreamModels(upstream, requestId)));
    const byId = new Map<string, ModelObject>();
    for (const id of this.#options.policyModels) {
      byId.set(id, { id, object: "model", created: this.#created, owned_by: "nexus" });
    }
    for (const models of lists) for (const model of models) if (!byId.has(model.id)) byId.set(model.id, model);
    const models = [...byId.values()];
    return allowed ? models.filter((m) => allowed.has(m.id)) : models;
  }

  async #upstreamModels(upstream: Upstream, requestId: string): Promise<ModelObject[]> {
    let entry = this.#lists.get(upstream.name);
    if (entry === undefined) {
      entry = { at: -Infinity, models: [] };
      this.#lists.set(upstream.name, entry);
    }
    if (entry.pending === undefined && performance.now() - entry.at >= (this.#options.cacheMs ?? 10_000)) {
      const current = entry;
      current.pending = this.#fetch(upstream, requestId)
        .then((models) => {
          if (models !== undefined) current.models = models;
        })
        .finally(() => {
          current.at = performance.now();
          current.pending = undefined;
        });
    }
    if (entry.pending !== undefined) await entry.pending;
    return entry.models;
  }

  /** The upstream's models, or undefined (logged) when it cannot be asked. */
  async #fetch(upstream: Upstream, requestId: string): Promise<ModelObject[] | undefined> {
    try {
      const response = await fetch(`${upstream.baseUrl}/v1/models`, {
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 2000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`status ${response.status}`);
      }
      const body = await response.json() as { data?: Array<Partial<ModelObject>> };
      return (Array.isArray(body.data) ? body.data : []).filter((m) => typeof m?.id === "string").map((m) => ({
        id: m.id!,
        object: "model",
        created: Number.isInteger(m.created) ? m.created! : this.#created,
        owned_by: typeof m.owned_by === "string" ? m.owned_by : upstream.name,
      }));
    } catch (error) {
      log("warn", "cannot list an upstream's models", {
        request_id: requestId,
        upstream: upstream.name,
        error: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
  }
}
