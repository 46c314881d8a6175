import type { Clock } from "../clock.js";

interface ScheduledTimer {
  readonly atMs: number;
  readonly sequence: number;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * One simulated timeline ("real time") shared by any number of {@link ManualClock}s. Nothing moves
 * until a test advances it; timers then fire in time order, and after each one every promise chain
 * it started settles before the next fires. No test using it sleeps for real.
 */
export class VirtualTime {
  #nowMs = 0;
  #sequence = 0;
  #timers: ScheduledTimer[] = [];

  /** The simulated real time in milliseconds. */
  now(): number {
    return this.#nowMs;
  }

  /** Runs `run` when the timeline reaches `atMs` (at once on the next advance if that has passed). */
  schedule(atMs: number, run: () => void): () => void {
    const timer: ScheduledTimer = {
      atMs: Math.max(atMs, this.#nowMs),
      sequence: this.#sequence++,
      run,
      cancelled: false,
    };
    // Keep the queue sorted by (time, insertion order); it stays small in tests.
    let index = this.#timers.length;
    while (index > 0) {
      const before = this.#timers[index - 1];
      if (before === undefined || before.atMs <= timer.atMs) break;
      index--;
    }
    this.#timers.splice(index, 0, timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** A clock on this timeline, optionally running at a different rate (1.1 = 10% fast). */
  clock(options: ManualClockOptions = {}): ManualClock {
    return new ManualClock(this, options);
  }

  /** Advances by `deltaMs`, firing due timers in order and letting their promise chains settle. */
  async advanceBy(deltaMs: number): Promise<void> {
    await this.advanceTo(this.#nowMs + deltaMs);
  }

  /** Advances to `targetMs` (never backwards). */
  async advanceTo(targetMs: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.atMs > targetMs) break;
      this.#timers.shift();
      if (next.cancelled) continue;
      this.#nowMs = Math.max(this.#nowMs, next.atMs);
      next.run();
      await settle();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
    await settle();
  }

  /**
   * Advances timer by timer until `predicate` holds or `limitMs` has passed; returns whether it held.
   * The predicate is checked after every timer, so the time it first holds is exact.
   */
  async advanceUntil(predicate: () => boolean, limitMs: number): Promise<boolean> {
    const end = this.#nowMs + limitMs;
    await settle();
    while (!predicate()) {
      const next = this.#timers.find((timer) => !timer.cancelled);
      if (next === undefined || next.atMs > end) {
        await this.advanceTo(end);
        return predicate();
      }
      await this.advanceTo(next.atMs);
    }
    return true;
  }

  /** Timers still waiting (cancelled ones excluded). */
  pendingTimers(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }
}

export interface ManualClockOptions {
  /** Local milliseconds per real millisecond. Default 1. */
  readonly rate?: number;
  /** The local monotonic reading when the clock is created. Default 0. */
  readonly startMs?: number;
  /** The wall-clock time when the clock is created. Default 2026-01-01T00:00:00Z. */
  readonly wallStart?: Date;
}

/**
 * A {@link Clock} on a {@link VirtualTime}, with its own rate (to model clock drift) and a pause
 * switch (to model a stalled event loop: while paused its timers are held, and fire late on resume,
 * while its readings keep moving, as a stalled process's clock would).
 */
export class ManualClock implements Clock {
  readonly rate: number;
  readonly #time: VirtualTime;
  readonly #createdAtMs: number;
  readonly #startMs: number;
  readonly #wallStartMs: number;
  #paused = false;
  #held: (() => void)[] = [];

  constructor(time: VirtualTime, options: ManualClockOptions = {}) {
    this.#time = time;
    this.rate = options.rate ?? 1;
    this.#createdAtMs = time.now();
    this.#startMs = options.startMs ?? 0;
    this.#wallStartMs = (options.wallStart ?? new Date("2026-01-01T00:00:00Z")).getTime();
  }

  now(): number {
    return this.#startMs + (this.#time.now() - this.#createdAtMs) * this.rate;
  }

  wallTime(): Date {
    return new Date(this.#wallStartMs + (this.#time.now() - this.#createdAtMs) * this.rate);
  }

  setTimer(delayMs: number, callback: () => void): () => void {
    const target = this.now() + Math.max(0, delayMs);
    // One microsecond of slack so the local reading has surely reached `target` when it fires.
    const atMs = this.realTimeAt(target) + 0.001;
    let cancelled = false;
    const cancel = this.#time.schedule(atMs, () => {
      if (cancelled) return;
      if (this.#paused) this.#held.push(callback);
      else callback();
    });
    return () => {
      cancelled = true;
      cancel();
    };
  }

  /** The real (timeline) time at which this clock reads `localMs`. */
  realTimeAt(localMs: number): number {
    return this.#createdAtMs + (localMs - this.#startMs) / this.rate;
  }

  /** Holds every timer that comes due until `resume()`. */
  pause(): void {
    this.#paused = true;
  }

  /** Fires the held timers, in order, at the current time. */
  resume(): void {
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const callback of held) this.#time.schedule(this.#time.now(), callback);
  }

  get paused(): boolean {
    return this.#paused;
  }
}

/** Lets every queued promise continuation run (one macrotask turn drains the microtask queue). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
