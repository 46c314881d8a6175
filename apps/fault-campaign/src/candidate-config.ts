/** How the campaign starts a candidate process (candidate.ts): its configuration, passed in the environment. */
import type { BackendConfig } from "@tenure/backends";
import type { ElectionTiming } from "@tenure/core";

export const CANDIDATE_ENV = "TENURE_CAMPAIGN_CANDIDATE";

export interface CandidateConfig {
  readonly backend: BackendConfig;
  readonly election: string;
  readonly identity: string;
  readonly incarnation: number;
  readonly timing: ElectionTiming;
  /** The elector's clock rate at start (1: true time). */
  readonly clockRate: number;
  /** Pause between two work steps while leading. */
  readonly workIntervalMs: number;
  /** The work log, appended to. */
  readonly logFile: string;
  /** Exit after this long whatever happens, so no candidate outlives a broken campaign. */
  readonly maxLifetimeMs: number;
}
