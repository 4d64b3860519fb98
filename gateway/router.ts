/** Routing: each request's `model` to an ordered list of upstreams (first choice, then the retry). */
import type { Config, PickerName, RoutePolicy } from "./config.ts";

/** At most this many attempts per request (and upstreams per route): the first choice and one retry. */
export const MAX_ATTEMPTS = 2;

/** An upstream as a route holds it (gateway/upstream_endpoints.ts: its endpoints and picker). */
export interface RouteTarget {
  /** The upstream's name. */
  readonly name: string;
  /** True while the upstream cannot take a request (every endpoint ejected, or none). */
  isEjected(): boolean;
}

/** A compiled route: picks the attempt order from one random number in [0, 1); `all` is every upstream it names. */
interface CompiledRoute<T> {
  pick(random: number): readonly T[];
  readonly all: readonly T[];
}

function fixed<T>(order: readonly T[]): CompiledRoute<T> {
  const attempts = order.slice(0, MAX_ATTEMPTS);
  return { pick: () => attempts, all: order };
}

function canary<T>(primary: T, canaryTarget: T, percent: number): CompiledRoute<T> {
  const threshold = percent / 100;
  const canaryFirst = [canaryTarget, primary];
  const primaryFirst = [primary, canaryTarget];
  return { pick: (random) => random < threshold ? canaryFirst : primaryFirst, all: primaryFirst };
}

function weighted<T>(entries: ReadonlyArray<readonly [T, number]>): CompiledRoute<T> {
  const positive = entries.filter(([, w]) => w > 0);
  const cumulative: number[] = [];
  let total = 0;
  for (const [, w] of positive) cumulative.push(total += w);
  // For each first choice, the retry goes to the heaviest other upstream.
  const byWeight = [...positive].sort((a, b) => b[1] - a[1]).map(([target]) => target);
  const orders = positive.map(([target]) =>
    [target, ...byWeight.filter((other) => other !== target)].slice(0, MAX_ATTEMPTS)
  );
  return {
    all: positive.map(([target]) => target),
    pick(random) {
      const goal = random * total;
      let i = 0;
      while (i < cumulative.length - 1 && goal >= cumulative[i]) i++;
      return orders[i];
    },
  };
}

function compile<T>(policy: RoutePolicy, target: (upstream: string) => T): CompiledRoute<T> {
  switch (policy.strategy) {
    case "canary":
      return canary(target(policy.primary), target(policy.canary), policy.percent);
    case "weighted":
      return weighted(Object.entries(policy.weights).map(([name, w]) => [target(name), w] as const));
    case "fallback":
      return fixed(policy.upstreams.map(target));
  }
}

/** Routing tables, compiled once at startup; routes hold their upstreams as targets (`T`). */
export class Router<T extends RouteTarget = RouteTarget> {
  readonly #routes = new Map<string, CompiledRoute<T>>();
  readonly #default: CompiledRoute<T> | undefined;
  readonly #random: () => number;

  /**
   * `target(upstream, picker)` gives an upstream's target under a policy's picker (undefined: GATEWAY_PICKER);
   * `random` is injectable so tests can use a seeded generator.
   */
  constructor(
    config: Pick<Config, "policies" | "defaultUpstream">,
    options: { target: (upstream: string, picker: PickerName | undefined) => T; random?: () => number },
  ) {
    const { target } = options;
    for (const [model, policy] of config.policies) {
      this.#routes.set(model, compile(policy, (name) => target(name, policy.picker)));
    }
    if (config.defaultUpstream) this.#default = fixed([target(config.defaultUpstream, undefined)]);
    this.#random = options.random ?? Math.random;
  }

  /** Upstreams to try for `model`, in order (at most MAX_ATTEMPTS), or undefined when nothing serves it. */
  route(model: string): readonly T[] | undefined {
    const entry = this.#routes.get(model) ?? this.#default;
    if (entry === undefined) return undefined;
    const order = entry.pick(this.#random());
    for (let i = 0; i < order.length; i++) if (order[i].isEjected()) return skipEjected(order, entry.all);
    return order;
  }

  /** The models that have a policy. */
  policyModels(): string[] {
    return [...this.#routes.keys()];
  }
}

/** The preferred order without ejected upstreams, topped up from the rest; all ejected: the preferred order. */
function skipEjected<T extends RouteTarget>(order: readonly T[], all: readonly T[]): readonly T[] {
  const result: T[] = [];
  for (const target of order) if (!target.isEjected()) result.push(target);
  for (const target of all) {
    if (result.length >= MAX_ATTEMPTS) break;
    if (!result.includes(target) && !target.isEjected()) result.push(target);
  }
  return result.length > 0 ? result : order;
}
