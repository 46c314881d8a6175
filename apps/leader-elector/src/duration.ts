import { InvalidArgumentError } from "@tenure/core";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration ("10s", "1m30s", "500ms") into milliseconds, as the 2016 sidecar's
 * flags took them. A bare number is rejected: a unit must always be given.
 */
export function parseDuration(flag: string, text: string): number {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)
    ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g)
    : null;
  if (parts === null) {
    throw new InvalidArgumentError(
      flag,
      `"${text}" is not a duration; use a number with a unit, like 10s, 500ms or 1m30s`,
    );
  }
  let total = 0;
  for (const part of parts) {
    const [, amount = "0", unit = "s"] = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part) ?? [];
    total += Number(amount) * (UNIT_MS[unit] ?? 0);
  }
  if (total <= 0) throw new InvalidArgumentError(flag, `must be longer than zero, got "${text}"`);
  return total;
}

/** Formats milliseconds the way logs and the demo print them: "2.13 s" or "340 ms". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
