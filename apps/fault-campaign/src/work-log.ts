/**
 * What candidates write and the checker reads: one JSON object per line, appended with a
 * synchronous write so a line is either whole on disk or absent, even under SIGKILL. Times are the
 * host's monotonic clock (`process.hrtime.bigint()`, CLOCK_MONOTONIC on Linux: one clock for every
 * process on the machine), in nanoseconds as decimal strings, whatever clock the candidate's elector
 * runs on (a drifting one, in the clock faults).
 */

/** A candidate process began (one incarnation of an identity). */
export interface StartLine {
  readonly event: "start";
  readonly t: string;
  readonly identity: string;
  readonly incarnation: number;
  readonly pid: number;
}

/** A term began: `onStartedLeading` was called with this token. */
export interface TermLine {
  readonly event: "term";
  readonly t: string;
  readonly identity: string;
  readonly incarnation: number;
  /** The term's number within this incarnation (1, 2, …). */
  readonly term: number;
  readonly token: number;
}

/**
 * One unit of a leader's work. `t` was read immediately before `leadership.isValid()` answered true,
 * so the instant lies inside the term's valid interval; the work is then recorded as done at `t`.
 */
export interface WorkLine {
  readonly event: "work";
  readonly t: string;
  readonly identity: string;
  readonly incarnation: number;
  readonly term: number;
  readonly token: number;
}

/** A term ended (`onStoppedLeading`). */
export interface EndLine {
  readonly event: "end";
  readonly t: string;
  readonly identity: string;
  readonly incarnation: number;
  readonly term: number;
  readonly token: number;
  readonly reason: string;
}

/** The candidate's answer to "who leads" changed (`onNewLeader`; `""`: nobody known). */
export interface LeaderLine {
  readonly event: "leader";
  readonly t: string;
  readonly identity: string;
  readonly incarnation: number;
  readonly leader: string;
}

export type LogLine = StartLine | TermLine | WorkLine | EndLine | LeaderLine;

/** Reads a log's lines, skipping a torn last line (a process killed mid-write never leaves one, but be safe). */
export function parseLog(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    try {
      lines.push(JSON.parse(raw) as LogLine);
    } catch {
      // A partial line can only be the last one; nothing after it was written.
    }
  }
  return lines;
}

/** Nanoseconds (decimal string) to milliseconds. */
export function nsToMs(t: string): number {
  return Number(BigInt(t) / 1000n) / 1000;
}

/** The host's monotonic clock now, in nanoseconds as a decimal string. */
export function monotonicNs(): string {
  return process.hrtime.bigint().toString();
}

/** The host's monotonic clock now, in milliseconds. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
