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

/**
 * The longest delay `setTimeout` takes (2^31 − 1 ms, about 24.8 days). Node fires a longer one
 * after 1 ms instead, so a long lease would wake its followers every millisecond.
 */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The process's clocks: `performance.now()`, `Date` and `setTimeout` (chained past its limit). */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallTime: () => new Date(),
  setTimer(delayMs, callback) {
    let remainingMs = Math.max(0, delayMs);
    let handle: ReturnType<typeof setTimeout>;
    const arm = (): void => {
      const chunkMs = Math.min(remainingMs, MAX_TIMEOUT_MS);
      remainingMs -= chunkMs;
      handle = setTimeout(remainingMs > 0 ? arm : callback, chunkMs);
    };
    arm();
    return () => clearTimeout(handle);
  },
};
