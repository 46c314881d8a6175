import { describeConformance } from "@tenure/conformance";
import { MemoryServer } from "@tenure/memory";
import { blackholeFaults, rawLocks } from "./support.js";

const server = new MemoryServer();

describeConformance({
  name: "memory",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  createStore: () => server.connect({ requestTimeoutMs: 500 }),
  ...rawLocks(server),
  faults: blackholeFaults,
});
