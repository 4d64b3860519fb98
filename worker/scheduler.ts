/** Admission like vLLM's --max-num-seqs: at most `limit` requests generate at once, the rest wait in FIFO order. */

import type { WorkerMetrics } from "./metrics.ts";

interface Waiter {
  admit(): void;
  signal: AbortSignal;
  onAbort: () => void;
}

/** Hands out generation slots and keeps vllm:num_requests_running / _waiting up to date. */
export class Scheduler {
  #running = 0;
  #queue: Waiter[] = [];

  constructor(readonly limit: number, readonly metrics: Pick<WorkerMetrics, "running" | "waiting">) {}

  /** Requests generating now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Takes a slot if one is free right now (no waiting); true when taken. */
  tryAcquire(): boolean {
    if (this.#running >= this.limit || this.#queue.length > 0) return false;
    this.#running++;
    this.metrics.running.inc();
    return true;
  }

  /** Waits for a slot in FIFO order; resolves true when admitted, false when the signal aborted first. */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        signal,
        admit: () => resolve(true),
        onAbort: () => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          this.metrics.waiting.dec();
          resolve(false);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.metrics.waiting.inc();
    });
  }

  /** Gives a slot back; the longest-waiting request, if any, takes it. */
  release(): void {
    const next = this.#queue.shift();
    if (next) {
      next.signal.removeEventListener("abort", next.onAbort);
      this.metrics.waiting.dec();
      next.admit(); // the slot passes on: running stays the same
      return;
    }
    this.#running--;
    this.metrics.running.dec();
  }
}
