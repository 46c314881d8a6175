import type { ElectorEvent, LockStore } from "@tenure/core";
import { Elector } from "@tenure/core";

/** Short real-time timings: a 1 s lease renewed every 200 ms. */
export const timing = { leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 200 } as const;

/** Starts a candidate on `store`. */
export function candidate(store: LockStore, name: string, identity: string): Elector {
  return new Elector({ store, name, identity, ...timing }).start();
}

/** Resolves with the first event of `elector` that matches, or rejects after `timeoutMs` naming it. */
export function nextEvent<T extends ElectorEvent["type"]>(
  elector: Elector,
  type: T,
  timeoutMs: number,
  matches: (event: Extract<ElectorEvent, { type: T }>) => boolean = () => true,
): Promise<Extract<ElectorEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${elector.identity}: no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = elector.subscribe((event) => {
      if (event.type !== type) return;
      const typed = event as Extract<ElectorEvent, { type: T }>;
      if (!matches(typed)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(typed);
    });
  });
}

/** Waits until `elector` leads (now or later) and returns its fencing token. */
export async function leads(elector: Elector, timeoutMs = 15_000): Promise<number> {
  const token = elector.fencingToken();
  if (elector.isLeader() && token !== null) return token;
  return (await nextEvent(elector, "started-leading", timeoutMs)).fencingToken;
}
