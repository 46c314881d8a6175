/**
 * handOver(), priorities and preemption, on the in-process memory store.
 *
 * 1. node-a leads (it started first) and hands over to node-c by name, say before maintenance.
 * 2. node-c hands over without naming anyone: the highest-priority running candidate, node-b, takes it.
 * 3. node-b leaves; node-c wins the ordinary election. node-c was created with `preemptAfterMs`, so when
 *    a stronger candidate, node-d, joins, node-c yields to it once node-d has been around for the
 *    stability delay, and not before.
 *
 * Run: `npm start --workspace @tenure/example-handover` (Node 24 runs the TypeScript directly).
 */
import { fileURLToPath } from "node:url";
import type { ElectorOptions } from "@tenure/core";
import { Elector } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";

/** Short timings so the tour takes seconds; production uses seconds-long leases. */
const timing = { leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 150 };
const stabilityDelayMs = 1000;

/** One term as the example saw it. */
export interface Term {
  readonly leader: string;
  readonly fencingToken: number;
}

export async function runHandoverTour(log: (line: string) => void = console.log): Promise<Term[]> {
  const server = new MemoryServer();
  const terms: Term[] = [];
  const electors: Elector[] = [];
  const candidate = (identity: string, options: Partial<ElectorOptions>): Elector => {
    const elector = new Elector({
      store: server.connect(),
      name: "scheduler",
      identity,
      ...timing,
      ...options,
    });
    elector.subscribe((event) => {
      if (event.type === "started-leading") {
        terms.push({ leader: identity, fencingToken: event.fencingToken });
        log(`${identity} leads (fencing token ${event.fencingToken})`);
      } else if (event.type === "stopped-leading") {
        log(`${identity} stopped leading (${event.reason})`);
      }
    });
    electors.push(elector);
    return elector.start();
  };
  const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  try {
    const a = candidate("node-a", { priority: 1 });
    await a.whenLeading();
    const b = candidate("node-b", { priority: 5 });
    const c = candidate("node-c", { priority: 3, preemptAfterMs: stabilityDelayMs });

    // 1. A named successor: nobody else can take the term in between.
    const named = await a.handOver("node-c");
    log(`node-a handed over to ${named.successor}`);
    await c.whenLeading();

    // 2. No name: the highest-priority candidate that runs and does not lead. Candidates advertise
    //    themselves every retry period; give them two to settle after the change of leader.
    await wait(2 * timing.retryPeriodMs);
    const best = await c.handOver();
    log(`node-c handed over to the best candidate, ${best.successor}`);
    await b.whenLeading();

    // 3. Preemption after a stability delay.
    await b.stop(); // releases: node-a or node-c takes over at once
    await wait(2 * timing.retryPeriodMs);
    if (!c.isLeader()) {
      // node-a won the race for the released lock; hand the term to node-c to continue the tour.
      await a.handOver("node-c");
      await c.whenLeading();
    }
    const joinedAt = performance.now();
    const d = candidate("node-d", { priority: 9 });
    await d.whenLeading();
    log(
      `node-d took over ${Math.round(performance.now() - joinedAt)} ms after it joined (delay ${stabilityDelayMs} ms)`,
    );
    return terms;
  } finally {
    await Promise.all(electors.map((elector) => elector.stop()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runHandoverTour();
}
