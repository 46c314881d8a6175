import type { LockStore } from "@tenure/core";
import { createMemoryStore } from "@tenure/memory";
import type { SidecarFlags } from "./flags.js";

/**
 * Opens the store the flags ask for: the one place that knows every backend. `memory` holds the
 * lock inside this process, so it only elects among candidates of one process (the demo, tests).
 */
export function openStore(flags: SidecarFlags): LockStore {
  switch (flags.store.kind) {
    case "memory":
      return createMemoryStore();
    default:
      throw new Error(`backend ${flags.store.kind} is not wired yet`);
  }
}
