/** Structured fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The logging interface Tenure writes to. Any structured logger (pino, winston, console) fits with a thin shim. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Discards everything. The default: a library stays quiet unless asked to speak. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ConsoleLoggerOptions {
  /** Lowest level written. Default `"info"`. */
  readonly level?: LogLevel;
  /** `"text"` (default): `time level message key=value`; `"json"`: one JSON object per line. */
  readonly format?: "text" | "json";
  /** Where lines go. Default `process.stderr`. */
  readonly stream?: { write(line: string): unknown };
  /** Fields added to every line, for example `{ election: "example" }`. */
  readonly fields?: LogFields;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** A small line-oriented logger for programs and examples. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const minimum = LEVELS.indexOf(options.level ?? "info");
  const stream = options.stream ?? process.stderr;
  const base = options.fields ?? {};
  const write = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (LEVELS.indexOf(level) < minimum) return;
    const time = new Date().toISOString();
    const all = { ...base, ...fields };
    if (options.format === "json") {
      stream.write(`${JSON.stringify({ time, level, msg: message, ...all }, jsonReplacer)}\n`);
      return;
    }
    const pairs = Object.entries(all)
      .map(([key, value]) => `${key}=${formatValue(value)}`)
      .join(" ");
    stream.write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${pairs === "" ? "" : ` ${pairs}`}\n`);
  };
  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
