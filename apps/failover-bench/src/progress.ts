/** A one-line progress bar on stderr (plain ANSI); on a non-terminal, one line per step. */
export class Progress {
  #done = 0;
  #label = "";
  #lastPlain = "";
  readonly #startedAt = Date.now();
  readonly #tty: boolean;

  constructor(
    public total: number,
    readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.#tty = stream.isTTY === true;
  }

  /** Sets what is being done now. */
  step(label: string): void {
    this.#label = label;
    this.#render();
  }

  /** Marks `units` of work done. */
  advance(units = 1): void {
    this.#done = Math.min(this.total, this.#done + units);
    this.#render();
  }

  /** Prints a line above the bar (warnings, skipped backends). */
  line(message: string): void {
    if (this.#tty) this.stream.write("\r\x1b[2K");
    this.stream.write(`${message}\n`);
    this.#render();
  }

  finish(): void {
    if (this.#tty) this.stream.write("\r\x1b[2K");
  }

  #render(): void {
    const share = this.total === 0 ? 1 : this.#done / this.total;
    const elapsed = Math.round((Date.now() - this.#startedAt) / 1000);
    const text = `${Math.round(share * 100)}% ${this.#label} (${elapsed} s)`;
    if (this.#tty) {
      const width = 30;
      const filled = Math.round(share * width);
      const bar = `\x1b[32m${"█".repeat(filled)}\x1b[2m${"░".repeat(width - filled)}\x1b[0m`;
      const room = Math.max(10, (this.stream.columns ?? 100) - width - 2);
      this.stream.write(`\r\x1b[2K${bar} ${text.length > room ? `${text.slice(0, room - 1)}…` : text}`);
    } else if (this.#label !== this.#lastPlain) {
      this.#lastPlain = this.#label;
      this.stream.write(`[${Math.round(share * 100)}%] ${this.#label}\n`);
    }
  }
}
