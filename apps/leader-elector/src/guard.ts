// The guard of one supervised child: a small process between the sidecar and the command it runs
// while leading. It exists so that the kill rule does not depend on the sidecar staying alive and
// responsive: the sidecar hands it the term's deadline after every renewal, and the guard's own
// timers send SIGTERM at the deadline and SIGKILL at the kill time, even if the sidecar's event loop
// stalls or the sidecar is killed (then the IPC channel closes: SIGTERM at once, SIGKILL at the kill
// time it last heard). The child runs in a process group of its own, and every signal goes to the
// whole group, so what the command started is stopped with it.
//
// Started by supervisor.ts as `node guard.js <command> [args...]` with an IPC channel, detached (its
// own process group, so a signal meant for the sidecar's group does not reach it). It imports nothing
// but Node: it starts fast and runs from the sources too (Node strips the types).
//
// Messages from the sidecar:  { type: "deadline", termAtNs, killAtNs }   the term is valid until termAtNs
//                             { type: "terminate", killAtNs }            the term ended (or the sidecar stops)
// Messages to the sidecar:    { type: "started", pid }  { type: "spawn-failed", message }
//                             { type: "exited", code, signal, atNs }
// Times are CLOCK_MONOTONIC nanoseconds as decimal strings (process.hrtime.bigint()).
import { spawn } from "node:child_process";

type Incoming =
  | { readonly type: "deadline"; readonly termAtNs: string; readonly killAtNs: string }
  | { readonly type: "terminate"; readonly killAtNs: string };

const [program, ...args] = process.argv.slice(2);
if (program === undefined || process.send === undefined) {
  process.stderr.write("leader-elector guard: run by the sidecar only (a command and an IPC channel)\n");
  process.exit(2);
}

// Signals meant for a terminal's foreground group or the sidecar are the sidecar's to handle.
process.on("SIGTERM", () => {});
process.on("SIGINT", () => {});

// A send to a sidecar that just died fails (EPIPE); with a callback the failure is handed to it
// instead of being thrown as an 'error' event, which would end this process and orphan the child.
const send = (message: Record<string, unknown>): void => {
  if (process.connected) process.send?.(message, undefined, {}, () => {});
};
const disconnect = (): void => {
  if (process.connected) process.disconnect();
};

const child = spawn(program, args, { detached: true, stdio: ["ignore", "inherit", "inherit"] });
let terminated = false;
let exited = false;
let termTimer: NodeJS.Timeout | undefined;
let killTimer: NodeJS.Timeout | undefined;
/** Until the sidecar says otherwise, a child whose sidecar is gone is killed at once. */
let killAtNs = process.hrtime.bigint();

function signalGroup(signal: NodeJS.Signals): void {
  if (exited || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function terminate(): void {
  if (terminated) return;
  terminated = true;
  signalGroup("SIGTERM");
}

function msUntil(atNs: bigint): number {
  return Math.max(0, Number(atNs - process.hrtime.bigint()) / 1e6);
}

function armKill(atNs: bigint): void {
  killAtNs = atNs;
  clearTimeout(killTimer);
  killTimer = setTimeout(() => signalGroup("SIGKILL"), msUntil(atNs));
}

// Whatever goes wrong in here, the child must not outlive its guard unsupervised.
process.on("uncaughtException", (error) => {
  process.stderr.write(`leader-elector guard: ${error.stack ?? error.message}; killing the child\n`);
  signalGroup("SIGKILL");
  process.exit(70);
});

child.once("spawn", () => send({ type: "started", pid: child.pid }));
child.once("error", (error) => {
  exited = true;
  send({ type: "spawn-failed", message: error.message });
  disconnect();
});
child.once("exit", (code, signal) => {
  exited = true;
  clearTimeout(termTimer);
  clearTimeout(killTimer);
  send({ type: "exited", code, signal, atNs: String(process.hrtime.bigint()) });
  disconnect();
});

process.on("message", (message: Incoming) => {
  if (message.type === "deadline") {
    clearTimeout(termTimer);
    if (!terminated) termTimer = setTimeout(terminate, msUntil(BigInt(message.termAtNs)));
    armKill(BigInt(message.killAtNs));
  } else if (message.type === "terminate") {
    clearTimeout(termTimer);
    terminate();
    armKill(BigInt(message.killAtNs));
  }
});

// The sidecar is gone (killed, crashed) or done with us: nobody renews the term any more.
process.on("disconnect", () => {
  if (exited) return;
  clearTimeout(termTimer);
  terminate();
  armKill(killAtNs);
});
