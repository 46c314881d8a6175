/**
 * @tenure/core/adapter: what every store adapter needs besides its store's protocol, done once:
 * a bounded, abortable call ({@link boundedCall}), the closed state and its error
 * ({@link StoreLifecycle}), the queue behind `watch` ({@link AsyncQueue}), decode-to-snapshot
 * ({@link snapshotOf}) and option checks. See docs/writing-an-adapter.md.
 */

export {
  assertValidElectionName,
  assertValidRecord,
  decodeRecord,
  encodeRecord,
  snapshotOf,
} from "../record.js";
export { AsyncQueue, type AsyncQueueOptions } from "./async-queue.js";
export { boundedCall, type CallLimits, type GiveUpReason } from "./bounded-call.js";
export { StoreLifecycle } from "./lifecycle.js";
export { exclusive, integerIn, nonEmptyString, oneOf, positiveMs, positiveMsOrOff } from "./options.js";
