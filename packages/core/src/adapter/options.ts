import type { ErrorContext } from "../errors.js";
import { InvalidArgumentError } from "../errors.js";

/**
 * Option checks shared by the adapters, so that every option is validated the same way and every
 * error names the option and the rule. Each returns the value (or its default) when it is valid.
 */

/** A positive, finite number of milliseconds, at most `max`; `fallback` when undefined. */
export function positiveMs(
  field: string,
  value: unknown,
  fallback: number,
  context: ErrorContext = {},
  max = Number.POSITIVE_INFINITY,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(
      field,
      `must be a positive number of milliseconds, got ${String(value)}`,
      context,
    );
  }
  if (value > max) {
    throw new InvalidArgumentError(field, `must be at most ${max} milliseconds, got ${value}`, context);
  }
  return value;
}

/** A non-empty string; `fallback` when undefined. */
export function nonEmptyString(
  field: string,
  value: unknown,
  fallback: string,
  context: ErrorContext = {},
): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidArgumentError(
      field,
      `must be a non-empty string, got ${JSON.stringify(value)}`,
      context,
    );
  }
  return value;
}

/** A positive number of milliseconds, or 0 to turn the feature off; `fallback` when undefined. */
export function positiveMsOrOff(
  field: string,
  value: unknown,
  fallback: number,
  context: ErrorContext = {},
): number {
  if (value === 0) return 0;
  return positiveMs(field, value, fallback, context);
}

/** An integer from `min` to `max`; `fallback` when undefined. */
export function integerIn(
  field: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
  context: ErrorContext = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      field,
      `must be an integer from ${min} to ${max}, got ${String(value)}`,
      context,
    );
  }
  return value;
}

/** One of `allowed`; `fallback` when undefined. */
export function oneOf<T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
  context: ErrorContext = {},
): T {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      field,
      `must be one of ${allowed.map((item) => `"${item}"`).join(", ")}, got ${JSON.stringify(value)}`,
      context,
    );
  }
  return value as T;
}

/**
 * Throws when more than one of `fields` is set in `options` (settings that exclude each other: a
 * client passed in and settings for a connection to open, say), naming the first and the others;
 * `advice` ends the message.
 */
export function exclusive<Options extends object>(
  options: Options,
  fields: readonly (keyof Options & string)[],
  context: ErrorContext = {},
  advice = "",
): void {
  const values = options as Readonly<Record<string, unknown>>;
  const set = fields.filter((field) => values[field] !== undefined);
  if (set.length > 1) {
    const rule = `cannot be combined with ${set.slice(1).join(", ")}${advice === "" ? "" : `; ${advice}`}`;
    throw new InvalidArgumentError(set[0] ?? "", rule, context);
  }
}
