import { randomBytes } from "node:crypto";
import { describeConformance, ProxiedStores } from "@tenure/conformance";
import { RedisLockStore } from "@tenure/redis";
import { afterAll } from "vitest";
import { addressOf, adminClient, rawLocks, sharedRedis } from "./servers.js";

const server = sharedRedis();
const admin = adminClient(server.url);
/** A prefix of this run's own, so runs against one long-lived server never meet. */
const keyPrefix = `conformance-${randomBytes(4).toString("hex")}`;
const stores = new ProxiedStores(
  addressOf(server.url),
  (address) => new RedisLockStore({ url: `redis://${address}`, keyPrefix, requestTimeoutMs: 1000 }),
);
afterAll(async () => {
  await stores.close();
  await admin.quit();
});

describeConformance({
  name: "redis",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  namePrefix: "conformance",
  unavailableWithinMs: 3000,
  createStore: () => stores.open(),
  ...rawLocks(admin, keyPrefix),
  faults: stores.faults,
});
