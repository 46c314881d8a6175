/** Number formatting shared by the tables and the verdicts. */

/** Milliseconds for a table cell: one decimal below 100 ms; "—" when not a number. */
export const ms = (value: number): string =>
  Number.isFinite(value) ? `${value.toFixed(value >= 100 ? 0 : 1)} ms` : "—";

/** A signed margin, "+12 ms" or "−3.5 ms". */
export function signed(value: number, unit = " ms"): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 1 : 2;
  const text = Math.abs(value).toFixed(digits);
  return Number(text) === 0 ? `±0${unit}` : `${value > 0 ? "+" : "−"}${text}${unit}`;
}
