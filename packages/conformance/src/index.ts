import { describeElectionContract } from "./election-contract.js";
import { describeStoreContract } from "./store-contract.js";
import type { ConformanceTarget } from "./target.js";

export { describeElectionContract } from "./election-contract.js";
export { describeStoreContract } from "./store-contract.js";
export { awaitAgreement, awaitLeader, nextEvent } from "./support.js";
export type { ConformanceTarget, FaultHook, RawLock } from "./target.js";
export { defaultTiming } from "./target.js";

/** Registers both parts of the suite (store contract, then election contract) for one adapter. */
export function describeConformance(target: ConformanceTarget): void {
  describeStoreContract(target);
  describeElectionContract(target);
}
export { ProxiedStores } from "./proxied-stores.js";
export type { CutMode } from "./tcp-fault-proxy.js";
export { TcpFaultProxy } from "./tcp-fault-proxy.js";
