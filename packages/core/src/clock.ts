/**
 * Time as the engine sees it. Decisions use only `now()` (monotonic); the wall clock only stamps
 * the record's human-readable times. Tests inject a manual clock (`@tenure/core/testing`) so no test
 * sleeps for real.
 */
export interface Clock {
  /** Monotonic milliseconds. Only differences between two readings mean anything. */
  now(): number;
  /** Wall-clock time, used only for `acquireTime` / `renewTime` in the record. */
  wallTime(): Date;
  /** Runs `callback` once after `delayMs` on this clock. Returns a function that cancels it. */
  setTimer(delayMs: number, callback: () => void): () => void;
}

/** The process's clocks: `performance.now()`, `Date` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallTime: () => new Date(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    return () => clearTimeout(handle);
  },
};
