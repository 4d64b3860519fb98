/** Passive circuit breaker of one endpoint of an upstream: ejected after repeated failures, for a while. */

/** When a target is ejected and for how long. */
export interface BreakerPolicy {
  /** Consecutive failures that eject; 0 disables ejection. */
  ejectAfterFailures: number;
  /** How long an ejected target stays out, in ms. */
  ejectMs: number;
}

/** The failure streak and ejection of one target; times are `performance.now()` values. */
export class CircuitBreaker {
  /** Consecutive failures so far. */
  failures = 0;
  /** Until when the target is out; 0 when it is not ejected. */
  ejectedUntil = 0;

  /** True while ejected; once the time is over the next request probes the target. */
  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** Records a good answer: the streak ends. */
  success(): void {
    if (this.failures !== 0) this.failures = 0;
  }

  /**
   * Records a failed attempt; returns true when this failure ejects the target. A failure while ejected does not
   * extend the ejection; one more failure after a probe ejects again at once.
   */
  failure(policy: BreakerPolicy, now: number): boolean {
    this.failures++;
    if (policy.ejectAfterFailures <= 0 || this.failures < policy.ejectAfterFailures || this.ejectedUntil > now) {
      return false;
    }
    this.ejectedUntil = now + policy.ejectMs;
    return true;
  }
}
