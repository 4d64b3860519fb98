/** Passive circuit breaker: an upstream that fails repeatedly is ejected for a while, then tried again. */

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
  readonly #failures = new Map<string, number>();
  readonly #ejectedUntil = new Map<string, number>();
  readonly #options: UpstreamHealthOptions;
  readonly #now: () => number;

  constructor(options: UpstreamHealthOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when some upstream may currently be ejected (lets the router skip checks). */
  get anyEjected(): boolean {
    return this.#ejectedUntil.size > 0;
  }

  /** True while `name` is ejected; an expired ejection ends here (the next request probes it). */
  isEjected(name: string): boolean {
    const until = this.#ejectedUntil.get(name);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#ejectedUntil.delete(name);
    return false;
  }

  /** Records a good answer: the failure streak ends. */
  success(name: string): void {
    if (this.#failures.get(name)) this.#failures.set(name, 0);
  }

  /** Records a failed connect or 5xx; ejects after enough in a row (one more failure after a probe re-ejects). */
  failure(name: string): void {
    const count = (this.#failures.get(name) ?? 0) + 1;
    this.#failures.set(name, count);
    const threshold = this.#options.ejectAfterFailures;
    if (threshold > 0 && count >= threshold && !this.#ejectedUntil.has(name)) {
      this.#ejectedUntil.set(name, this.#now() + this.#options.ejectMs);
      this.#options.onEject?.(name);
    }
  }
}
