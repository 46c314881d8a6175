/** The adapter kit, tested once for every adapter that uses it. */
import { describe, expect, it } from "vitest";
import {
  AsyncQueue,
  boundedCall,
  exclusive,
  nonEmptyString,
  oneOf,
  positiveMs,
  positiveMsOrOff,
  StoreLifecycle,
} from "../src/adapter/index.js";
import { ConflictError, TenureError } from "../src/index.js";

const context = { backend: "test", election: "example", operation: "get" };
const never = <T>(): Promise<T> => new Promise<T>(() => {});

describe("boundedCall", () => {
  it("passes a result through and leaves nothing behind", async () => {
    const caller = new AbortController();
    await expect(
      boundedCall({ timeoutMs: 1000, signal: caller.signal, context }, async () => 42),
    ).resolves.toBe(42);
  });

  it("ends a call with no answer at the adapter's timeout, aborting its signal and giving up once", async () => {
    const reasons: string[] = [];
    let inner: AbortSignal | undefined;
    const started = performance.now();
    const outcome = await boundedCall(
      { timeoutMs: 50, context, onGiveUp: (reason) => reasons.push(reason) },
      (signal) => {
        inner = signal;
        return never();
      },
    ).catch((error: unknown) => error);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(TenureError.is(outcome, "UNAVAILABLE")).toBe(true);
    expect((outcome as Error).message).toMatch(/no answer within 50 ms/);
    expect(inner?.aborted).toBe(true);
    expect(reasons).toEqual(["timeout"]);
  });

  it("lets the earlier deadline win: the caller's signal before the adapter's timeout", async () => {
    const caller = new AbortController();
    const call = boundedCall({ timeoutMs: 60_000, signal: caller.signal, context }, () => never());
    caller.abort();
    await expect(call).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringMatching(/aborted/),
    });
    await expect(
      boundedCall({ timeoutMs: 1000, signal: AbortSignal.abort(), context }, async () => 1),
    ).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("rejects with CLOSED when the store closes, and at once after", async () => {
    const lifecycle = new StoreLifecycle("test");
    const call = boundedCall({ timeoutMs: 60_000, closing: lifecycle.signal, context }, () => never());
    lifecycle.close();
    await expect(call).rejects.toMatchObject({ code: "CLOSED" });
    await expect(
      boundedCall({ timeoutMs: 1000, closing: lifecycle.signal, context }, async () => 1),
    ).rejects.toMatchObject({
      code: "CLOSED",
    });
  });

  it("maps a rejection with mapError, and keeps TenureErrors as they are by default", async () => {
    await expect(
      boundedCall({ timeoutMs: 1000, context }, async () => Promise.reject(new ConflictError("moved"))),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(
      boundedCall({ timeoutMs: 1000, context }, async () => Promise.reject(new Error("boom"))),
    ).rejects.toMatchObject({
      code: "INTERNAL",
    });
    const mapped = boundedCall(
      { timeoutMs: 1000, context, mapError: () => new TenureError("PERMISSION_DENIED", "no") },
      async () => Promise.reject(new Error("403")),
    );
    await expect(mapped).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
  });
});

describe("AsyncQueue", () => {
  it("delivers items in order, then finishes after end()", async () => {
    const queue = new AsyncQueue<number | null>();
    queue.push(1);
    queue.push(null);
    const later = queue.next();
    queue.end();
    expect(await later).toEqual({ done: false, value: 1 });
    expect(await queue.next()).toEqual({ done: false, value: null });
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it("delivers what it holds, then throws the failure, once", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.fail(new Error("broken"));
    queue.push(2); // after a failure: ignored
    expect(await queue.next()).toEqual({ done: false, value: 1 });
    await expect(queue.next()).rejects.toThrow("broken");
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it("wakes a waiting consumer on push, and stops on return()", async () => {
    const queue = new AsyncQueue<string>();
    const waiting = queue.next();
    queue.push("a");
    expect(await waiting).toEqual({ done: false, value: "a" });
    queue.push("b");
    await queue.return();
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it("ends with OVERFLOW past maxItems", async () => {
    const queue = new AsyncQueue<number>({ maxItems: 2, name: "the test queue" });
    for (const item of [1, 2, 3]) queue.push(item);
    await queue.next();
    await queue.next();
    await expect(queue.next()).rejects.toMatchObject({
      code: "OVERFLOW",
      message: expect.stringMatching(/test queue/),
    });
  });

  it("wait() returns when its signal aborts", async () => {
    const queue = new AsyncQueue<number>();
    const abort = new AbortController();
    const waiting = queue.wait(abort.signal);
    abort.abort();
    await waiting;
    expect(queue.size).toBe(0);
  });
});

describe("StoreLifecycle and option checks", () => {
  it("words CLOSED once, and closes once", () => {
    const lifecycle = new StoreLifecycle("redis");
    lifecycle.assertOpen({ election: "x" });
    expect(lifecycle.close()).toBe(true);
    expect(lifecycle.close()).toBe(false);
    expect(() => lifecycle.assertOpen({ election: "x", operation: "get" })).toThrow(
      /\[redis\] election "x" get: the store was closed/,
    );
    expect(lifecycle.signal.aborted).toBe(true);
  });

  it("names the option and the rule", () => {
    expect(positiveMs("timeoutMs", undefined, 5)).toBe(5);
    expect(() => positiveMs("timeoutMs", 0, 5)).toThrow(
      /invalid timeoutMs: must be a positive number of milliseconds, got 0/,
    );
    expect(() => nonEmptyString("keyPrefix", "", "x")).toThrow(/keyPrefix/);
    expect(oneOf("mode", "a", ["a", "b"] as const, "b")).toBe("a");
    expect(() => oneOf("mode", "c", ["a", "b"] as const, "b")).toThrow(/must be one of "a", "b"/);
    const settings: { client?: object; url?: string; host?: string } = { client: {}, url: "x" };
    expect(() => exclusive(settings, ["client", "url", "host"], {}, "configure the client instead")).toThrow(
      /client: cannot be combined with url; configure the client instead/,
    );
    expect(positiveMsOrOff("heartbeatMs", 0, 5000)).toBe(0);
    expect(() => positiveMsOrOff("heartbeatMs", -1, 5000)).toThrow(/heartbeatMs/);
  });

  it("boundedCall: a call ended by close() carries the store's own CLOSED error, on the given clock", async () => {
    const lifecycle = new StoreLifecycle("redis");
    const timers: number[] = [];
    const clock = {
      setTimer: (delayMs: number) => {
        timers.push(delayMs);
        return () => {};
      },
    };
    const call = boundedCall({ timeoutMs: 123, clock, closing: lifecycle.signal, context }, () => never());
    expect(timers).toEqual([123]);
    lifecycle.close();
    await expect(call).rejects.toThrow(/the store was closed \(open a new store/);
  });

  it("AsyncQueue: onReturn runs once when the consumer stops", async () => {
    let returned = 0;
    const queue = new AsyncQueue<number>({ onReturn: () => returned++ });
    await queue.return();
    await queue.return();
    expect(returned).toBe(1);
  });
});
