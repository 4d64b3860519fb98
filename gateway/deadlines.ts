/** Request timeouts without a timer per request: one coarse sweep aborts whatever is past its deadline. */

/** One request's deadlines; set a field to Infinity to disarm it. */
export interface Deadline {
  /** `performance.now()` by which response headers must have arrived. */
  firstByteAt: number;
  /** `performance.now()` by which the whole request must be over. */
  totalAt: number;
  /** Aborted with a TimeoutError-like reason when a deadline passes. */
  controller: AbortController;
}

/** Raised (as the abort reason) when a deadline passes. */
export class Timeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Timeout";
  }
}

/** Watches deadlines with one interval timer (started on demand, never keeping the process alive). */
export class Deadlines {
  readonly #active = new Set<Deadline>();
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `intervalMs` is the resolution: deadlines fire at most this late. */
  constructor(intervalMs = 100) {
    this.#intervalMs = intervalMs;
  }

  /** Starts watching a deadline. */
  add(deadline: Deadline): void {
    this.#active.add(deadline);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#sweep(), this.#intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Stops watching a deadline. */
  delete(deadline: Deadline): void {
    this.#active.delete(deadline);
  }

  #sweep(): void {
    if (this.#active.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = performance.now();
    for (const deadline of this.#active) {
      if (now >= deadline.firstByteAt) {
        this.#active.delete(deadline);
        deadline.controller.abort(new Timeout("first byte timeout"));
      } else if (now >= deadline.totalAt) {
        this.#active.delete(deadline);
        deadline.controller.abort(new Timeout("request timeout"));
      }
    }
  }
}
