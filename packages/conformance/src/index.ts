import { describeElectionContract } from "./election-contract.js";
import { describeHandoverContract } from "./handover-contract.js";
import { describeObserveContract } from "./observe-contract.js";
import { describeStoreContract } from "./store-contract.js";
import type { ConformanceTarget } from "./target.js";

export { describeElectionContract } from "./election-contract.js";
export { describeHandoverContract } from "./handover-contract.js";
export { describeObserveContract } from "./observe-contract.js";
export { describeStoreContract } from "./store-contract.js";
export { awaitAgreement, awaitLeader, nextEvent } from "./support.js";
export type { ConformanceTarget, FaultHook, RawLock } from "./target.js";
export { defaultTiming } from "./target.js";

/** Registers every part of the suite (store, election, observe, then handover contract) for one adapter. */
export function describeConformance(target: ConformanceTarget): void {
  describeStoreContract(target);
  describeElectionContract(target);
  describeObserveContract(target);
  describeHandoverContract(target);
}
export { ProxiedStores } from "./proxied-stores.js";
export type { CutMode } from "./tcp-fault-proxy.js";
export { TcpFaultProxy } from "./tcp-fault-proxy.js";
