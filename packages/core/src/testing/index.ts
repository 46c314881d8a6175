/**
 * Test helpers for code that uses Tenure: a simulated timeline with clocks that drift and stall,
 * and a recorder that checks leaders never overlap. Import from `@tenure/core/testing`.
 */
export type { CommonClock, LeadershipInterval } from "./leadership-log.js";
export { LeadershipLog } from "./leadership-log.js";
export type { ManualClockOptions } from "./virtual-time.js";
export { ManualClock, VirtualTime } from "./virtual-time.js";
