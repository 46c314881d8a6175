import { randomBytes } from "node:crypto";
import type { LeaderRecord } from "@tenure/core";
import { TenureError } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { adminClient, sharedRedis } from "./servers.js";

const server = sharedRedis();
const admin = adminClient(server.url);
const keyPrefix = `acl-${randomBytes(4).toString("hex")}`;
const password = randomBytes(12).toString("hex");
const users: string[] = [];
const stores: RedisLockStore[] = [];

/**
 * The least privilege the README documents: the connection handshake, the scripts, the commands the
 * scripts run (Redis 7 checks each against the caller's ACL), and the subscription, on the prefix only.
 */
const LEAST_PRIVILEGE = [
  "+@connection",
  "+evalsha",
  "+eval",
  "+evalsha_ro",
  "+eval_ro",
  "+type",
  "+hmget",
  "+get",
  "+exists",
  "+time",
  "+set",
  "+incr",
  "+hset",
  "+del",
  "+publish",
  "+subscribe",
];

afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  if (users.length > 0) await admin.acl("DELUSER", ...users);
  await admin.quit();
});

async function user(label: string, rules: readonly string[]): Promise<string> {
  const name = `tenure-${label}-${randomBytes(3).toString("hex")}`;
  await admin.acl("SETUSER", name, "reset", "on", `>${password}`, ...rules);
  users.push(name);
  return name;
}

function storeFor(username: string, secret = password): RedisLockStore {
  const store = new RedisLockStore({
    url: server.url,
    username,
    password: secret,
    keyPrefix,
    requestTimeoutMs: 2000,
  });
  stores.push(store);
  return store;
}

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "candidate",
    leaseDurationSeconds: 10,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:05Z",
    leaderTransitions: 1,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<TenureError> {
  try {
    await promise;
  } catch (error) {
    if (TenureError.is(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

const election = (label: string): string => `${label}-${randomBytes(4).toString("hex")}`;
const lockKey = (name: string): string => `${keyPrefix}:{${name}}:lock`;

describe("redis: authentication and ACL permissions", () => {
  it("works for a user with exactly the documented least privilege, watch included", async () => {
    const name = await user("least", [...LEAST_PRIVILEGE, `~${keyPrefix}:*`, `&${keyPrefix}:*`]);
    const store = storeFor(name);
    const lock = election("least");
    const abort = new AbortController();
    const stream = store.watch(lock, abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const writer = storeFor(name);
    const created = await writer.create(lock, record());
    const updated = await writer.update(lock, record({ leaderTransitions: 2 }), created.version);
    expect((await writer.get(lock))?.version).toBe(updated.version);
    expect((await stream.next()).value).toMatchObject({ version: created.version });
    expect((await stream.next()).value).toMatchObject({ version: updated.version });
    abort.abort();
  });

  it("reports refused credentials as PERMISSION_DENIED, not as an outage", async () => {
    const name = await user("wrongpass", [...LEAST_PRIVILEGE, `~${keyPrefix}:*`, `&${keyPrefix}:*`]);
    const error = await failure(storeFor(name, "not-the-password").get(election("wrongpass")));
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toMatch(/WRONGPASS/);
    expect(error.message).toMatch(/username and password/);
  });

  it("names the command a user may not run", async () => {
    const name = await user("no-scripts", [
      ...LEAST_PRIVILEGE,
      "-evalsha",
      "-eval",
      "-evalsha_ro",
      "-eval_ro",
      `~${keyPrefix}:*`,
      `&${keyPrefix}:*`,
    ]);
    const store = storeFor(name);
    const read = await failure(store.get(election("no-scripts")));
    expect(read.code).toBe("PERMISSION_DENIED");
    expect(read.message).toMatch(/EVALSHA_RO/);
    expect(read.message).toMatch(/ACL SETUSER/);
    const write = await failure(store.create(election("no-scripts"), record()));
    expect(write.code).toBe("PERMISSION_DENIED");
    expect(write.message).toMatch(/EVALSHA/);
  });

  it("refuses a user whose key pattern does not cover the prefix, and writes nothing", async () => {
    const name = await user("other-keys", [...LEAST_PRIVILEGE, "~someone-else:*", `&${keyPrefix}:*`]);
    const store = storeFor(name);
    const lock = election("other-keys");
    expect((await failure(store.get(lock))).code).toBe("PERMISSION_DENIED");
    expect((await failure(store.create(lock, record()))).code).toBe("PERMISSION_DENIED");
    expect(await admin.exists(lockKey(lock))).toBe(0);
  });

  it("refuses a write as a whole when the user may write the lock but not publish the change", async () => {
    const name = await user("no-publish", [
      ...LEAST_PRIVILEGE,
      "-publish",
      `~${keyPrefix}:*`,
      `&${keyPrefix}:*`,
    ]);
    const store = storeFor(name);
    const lock = election("no-publish");
    const error = await failure(store.create(lock, record()));
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toMatch(/PUBLISH/);
    // Redis does not roll scripts back: the script checks every write's permission before the first.
    expect(await admin.exists(lockKey(lock))).toBe(0);
  });

  it("refuses a watch when the user may not subscribe to the election's channel", async () => {
    const name = await user("no-channel", [...LEAST_PRIVILEGE, `~${keyPrefix}:*`, "&someone-else:*"]);
    const store = storeFor(name);
    const error = await failure(
      store.watch(election("no-channel"), new AbortController().signal)[Symbol.asyncIterator]().next(),
    );
    expect(error.code).toBe("PERMISSION_DENIED");
  });
});
