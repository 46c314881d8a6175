import type { Clock } from "@tenure/core";
import { systemClock } from "@tenure/core";

/**
 * The process's clock running at `rate` local milliseconds per real one (1.2: 20% fast), changeable
 * while it runs, as a drifting oscillator's would: readings stay continuous across a change. Timers
 * fire after `delay / rate` real milliseconds. Only the candidate's elector runs on it; the work log
 * keeps the host's true monotonic time, so the checker sees what really happened.
 */
export class DriftingClock implements Clock {
  #rate: number;
  #anchorRealMs = performance.now();
  #anchorLocalMs = this.#anchorRealMs;

  constructor(rate = 1) {
    this.#rate = checkRate(rate);
  }

  get rate(): number {
    return this.#rate;
  }

  /** Changes the rate from now on; the reading continues from where it is. */
  setRate(rate: number): void {
    const local = this.now();
    this.#anchorRealMs = performance.now();
    this.#anchorLocalMs = local;
    this.#rate = checkRate(rate);
  }

  now(): number {
    return this.#anchorLocalMs + (performance.now() - this.#anchorRealMs) * this.#rate;
  }

  wallTime(): Date {
    return new Date();
  }

  setTimer(delayMs: number, callback: () => void): () => void {
    return systemClock.setTimer(delayMs / this.#rate, callback);
  }
}

function checkRate(rate: number): number {
  if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`clock rate must be positive, got ${rate}`);
  return rate;
}
