/** Passive circuit breaker per upstream: an upstream that fails repeatedly is ejected for a while, then tried again. */
import { CircuitBreaker } from "./circuit_breaker.ts";

/** Options of the circuit breaker. */
export interface UpstreamHealthOptions {
  /** Consecutive failures that eject an upstream; 0 disables ejection. */
  ejectAfterFailures: number;
  /** How long an ejected upstream stays out. */
  ejectMs: number;
  /** Called when an upstream is ejected. */
  onEject?: (name: string) => void;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** Tracks consecutive failures per upstream and which upstreams are currently ejected. */
export class UpstreamHealth {
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** Upstreams ejected and not yet seen back. */
  readonly #ejected = new Set<string>();
  readonly #options: UpstreamHealthOptions;
  readonly #now: () => number;

  constructor(options: UpstreamHealthOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when some upstream may currently be ejected (lets the router skip checks). */
  get anyEjected(): boolean {
    return this.#ejected.size > 0;
  }

  /** True while `name` is ejected; an expired ejection ends here (the next request probes it). */
  isEjected(name: string): boolean {
    if (!this.#ejected.has(name)) return false;
    if (this.#breakers.get(name)!.isEjected(this.#now())) return true;
    this.#ejected.delete(name);
    return false;
  }

  /** Records a good answer: the failure streak ends. */
  success(name: string): void {
    this.#breakers.get(name)?.success();
  }

  /** Records a failed connect or 5xx; ejects after enough in a row (one more failure after a probe re-ejects). */
  failure(name: string): void {
    let breaker = this.#breakers.get(name);
    if (breaker === undefined) this.#breakers.set(name, breaker = new CircuitBreaker());
    if (breaker.failure(this.#options, this.#now())) {
      this.#ejected.add(name);
      this.#options.onEject?.(name);
    }
  }
}
