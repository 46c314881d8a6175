import type { IoRedisClient } from "@tenure/redis";
import { installNpmCopy } from "@tenure/testing";

/**
 * The oldest ioredis the peer range of @tenure/redis admits (`^5.0.0 || ^6.0.0`). The workspace
 * tests everything else on ioredis 6 (the newest); these tests run the adapter on this one.
 */
export const OLDEST_IOREDIS = "ioredis@5.0.0";

/** What the tests use of an ioredis module, whichever version and copy it is. */
export interface IoRedisModule {
  readonly version: string;
  readonly Redis: new (
    url: string,
    options?: Record<string, unknown>,
  ) => IoRedisClient & {
    quit(): Promise<unknown>;
    get(key: string): Promise<string | null>;
  };
  readonly Cluster: new (
    nodes: { host: string; port: number }[],
    options?: Record<string, unknown>,
  ) => IoRedisClient & { quit(): Promise<unknown> };
}

/**
 * ioredis 5, installed by npm into a folder of its own (outside the workspace, which has ioredis 6):
 * a copy with classes of its own, as a user's program that depends on ioredis 5 has.
 */
export async function oldestIoRedis(): Promise<IoRedisModule> {
  const copy = await installNpmCopy(OLDEST_IOREDIS);
  // ioredis is CommonJS: `module.exports` is the Redis class itself, carrying `Cluster` (and, from
  // 5.x releases after 5.0.0, `Redis` too).
  const loaded = await copy.import<{ default: { Cluster: unknown } }>();
  return {
    version: copy.version,
    Redis: loaded.default as unknown as IoRedisModule["Redis"],
    Cluster: loaded.default.Cluster as IoRedisModule["Cluster"],
  };
}
