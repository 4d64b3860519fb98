/** The model list for `GET /v1/models`: models with a policy plus what the default upstream says it serves. */
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
  /** The default upstream, asked for its models. */
  defaultUpstream?: Upstream;
  /** How long an upstream answer is reused. */
  cacheMs?: number;
  /** Timeout of the upstream call. */
  timeoutMs?: number;
}

/** Builds the model list, caching the upstream's answer briefly. */
export class ModelCatalog {
  readonly #options: ModelCatalogOptions;
  readonly #created = Math.floor(Date.now() / 1000);
  #cached: { at: number; models: ModelObject[] } | undefined;

  constructor(options: ModelCatalogOptions) {
    this.#options = options;
  }

  /** Every servable model, filtered to `allowed` when given; `requestId` goes into any log line. */
  async list(allowed: ReadonlySet<string> | undefined, requestId: string): Promise<ModelObject[]> {
    const byId = new Map<string, ModelObject>();
    for (const id of this.#options.policyModels) {
      byId.set(id, { id, object: "model", created: this.#created, owned_by: "nexus" });
    }
    for (const model of await this.#upstreamModels(requestId)) if (!byId.has(model.id)) byId.set(model.id, model);
    const models = [...byId.values()];
    return allowed ? models.filter((m) => allowed.has(m.id)) : models;
  }

  async #upstreamModels(requestId: string): Promise<ModelObject[]> {
    const upstream = this.#options.defaultUpstream;
    if (!upstream) return [];
    const now = performance.now();
    if (this.#cached && now - this.#cached.at < (this.#options.cacheMs ?? 10_000)) return this.#cached.models;
    let models: ModelObject[] = [];
    try {
      const response = await fetch(`${upstream.baseUrl}/v1/models`, {
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 2000),
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const body = await response.json() as { data?: Array<Partial<ModelObject>> };
      models = (body.data ?? []).filter((m) => typeof m.id === "string").map((m) => ({
        id: m.id!,
        object: "model",
        created: Number.isInteger(m.created) ? m.created! : this.#created,
        owned_by: typeof m.owned_by === "string" ? m.owned_by : upstream.name,
      }));
    } catch (error) {
      log("warn", "cannot list the default upstream's models", {
        request_id: requestId,
        upstream: upstream.name,
        error: error instanceof Error ? error.message : String(error),
      });
      return this.#cached?.models ?? [];
    }
    this.#cached = { at: now, models };
    return models;
  }
}
