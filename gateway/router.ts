/** Routing: each request's `model` to an ordered list of upstreams (first choice, then the retry). */
import type { Config, RoutePolicy } from "./config.ts";
import type { UpstreamHealth } from "./upstream_health.ts";

/** At most this many upstreams are tried per request: the first choice and one retry. */
export const MAX_ATTEMPTS = 2;

/** A compiled route: picks the attempt order from one random number in [0, 1). */
interface CompiledRoute {
  pick(random: number): readonly string[];
}

function fixed(order: readonly string[]): CompiledRoute {
  const attempts = order.slice(0, MAX_ATTEMPTS);
  return { pick: () => attempts };
}

function canary(primary: string, canaryName: string, percent: number): CompiledRoute {
  const threshold = percent / 100;
  const canaryFirst = [canaryName, primary];
  const primaryFirst = [primary, canaryName];
  return { pick: (random) => random < threshold ? canaryFirst : primaryFirst };
}

function weighted(weights: Record<string, number>): CompiledRoute {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const names = entries.map(([name]) => name);
  const cumulative: number[] = [];
  let total = 0;
  for (const [, w] of entries) cumulative.push(total += w);
  // For each first choice, the retry goes to the heaviest other upstream.
  const byWeight = [...entries].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  const orders = names.map((name) => [name, ...byWeight.filter((other) => other !== name)].slice(0, MAX_ATTEMPTS));
  return {
    pick(random) {
      const target = random * total;
      let i = 0;
      while (i < cumulative.length - 1 && target >= cumulative[i]) i++;
      return orders[i];
    },
  };
}

function compile(policy: RoutePolicy): CompiledRoute {
  switch (policy.strategy) {
    case "canary":
      return canary(policy.primary, policy.canary, policy.percent);
    case "weighted":
      return weighted(policy.weights);
    case "fallback":
      return fixed(policy.upstreams);
  }
}

/** The full candidate list of a policy (for skipping ejected upstreams). */
function candidates(policy: RoutePolicy): string[] {
  switch (policy.strategy) {
    case "canary":
      return [policy.primary, policy.canary];
    case "weighted":
      return Object.entries(policy.weights).filter(([, w]) => w > 0).map(([name]) => name);
    case "fallback":
      return policy.upstreams;
  }
}

/** Routing tables, compiled once at startup. */
export class Router {
  readonly #routes = new Map<string, { route: CompiledRoute; all: readonly string[] }>();
  readonly #default: { route: CompiledRoute; all: readonly string[] } | undefined;
  readonly #health: UpstreamHealth | undefined;
  readonly #random: () => number;

  /** `random` is injectable so tests can use a seeded generator. */
  constructor(
    config: Pick<Config, "policies" | "defaultUpstream">,
    options: { health?: UpstreamHealth; random?: () => number } = {},
  ) {
    for (const [model, policy] of config.policies) {
      this.#routes.set(model, { route: compile(policy), all: candidates(policy) });
    }
    if (config.defaultUpstream) {
      this.#default = { route: fixed([config.defaultUpstream]), all: [config.defaultUpstream] };
    }
    this.#health = options.health;
    this.#random = options.random ?? Math.random;
  }

  /** Upstreams to try for `model`, in order (at most MAX_ATTEMPTS), or undefined when nothing serves it. */
  route(model: string): readonly string[] | undefined {
    const entry = this.#routes.get(model) ?? this.#default;
    if (entry === undefined) return undefined;
    const order = entry.route.pick(this.#random());
    const health = this.#health;
    if (health === undefined || !health.anyEjected) return order;
    return skipEjected(order, entry.all, health);
  }

  /** The models that have a policy. */
  policyModels(): string[] {
    return [...this.#routes.keys()];
  }
}

/** The preferred order without ejected upstreams, topped up from the rest; all ejected: the preferred order. */
function skipEjected(order: readonly string[], all: readonly string[], health: UpstreamHealth): readonly string[] {
  const result: string[] = [];
  for (const name of order) if (!health.isEjected(name)) result.push(name);
  for (const name of all) {
    if (result.length >= MAX_ATTEMPTS) break;
    if (!result.includes(name) && !health.isEjected(name)) result.push(name);
  }
  return result.length > 0 ? result : order;
}
