/** Resident memory and CPU time of a process, read from /proc. */

const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size of `pid` in bytes (VmRSS), or 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+)\s+kB/m);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User plus system CPU time that `pid` has used so far, in seconds (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** What a sampler saw of one process over a scenario. */
export interface ProcessUsage {
  peakRssBytes: number;
  cpuSeconds: number;
  /** CPU seconds per wall-clock second (1 = one full core). */
  cpuCores: number;
}

/**
 * Samples a process's RSS every `intervalMs` until stopped; reports the peak and the CPU used meanwhile, adding the
 * CPU of `helperPids` (Redis for the Redis limiter: the gateway's cost includes it).
 */
export class UsageSampler {
  readonly #pid: number;
  readonly #cpuPids: number[];
  readonly #cpuAtStart: number;
  readonly #startedAt = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;
  #peak = 0;

  constructor(pid: number, options: { intervalMs?: number; helperPids?: number[] } = {}) {
    this.#pid = pid;
    this.#cpuPids = [pid, ...(options.helperPids ?? [])];
    this.#cpuAtStart = this.#cpu();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), options.intervalMs ?? 100);
  }

  #cpu(): number {
    return this.#cpuPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  }

  #sample(): void {
    this.#peak = Math.max(this.#peak, rssBytes(this.#pid));
  }

  /** Stops sampling and returns what was seen. */
  stop(): ProcessUsage {
    clearInterval(this.#timer);
    this.#sample();
    const used = this.#cpu() - this.#cpuAtStart;
    const wall = (performance.now() - this.#startedAt) / 1000;
    return { peakRssBytes: this.#peak, cpuSeconds: used, cpuCores: wall > 0 ? used / wall : 0 };
  }
}
