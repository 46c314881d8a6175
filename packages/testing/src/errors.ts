/**
 * A server could not be obtained or started. The message names the server, the step that failed
 * and, when there is one, the log file to read.
 */
export class ServerSetupError extends Error {
  override readonly name = "ServerSetupError";
  readonly server: string;
  readonly step: string;
  readonly logFile: string | undefined;

  constructor(server: string, step: string, detail: string, logFile?: string, cause?: unknown) {
    const where = logFile === undefined ? "" : ` (log: ${logFile})`;
    super(`${server}: ${step} failed: ${detail}${where}`, cause === undefined ? undefined : { cause });
    this.server = server;
    this.step = step;
    this.logFile = logFile;
  }
}

/** The message of any thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
