/** The export condition that points TypeScript, vitest and Node at src/ inside this repository only. */
export const SOURCE_CONDITION: "@tenure/source";
/** Where prepack keeps the development manifest until postpack. */
export const BACKUP_NAME: string;
/** A package manifest, as far as these scripts read it. */
export interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly [field: string]: unknown;
}
/** Every workspace folder (packages/*, apps/*, tests/*), relative to the repository root. */
export function workspaceDirs(): string[];
/** The public workspaces: the ones npm would publish. */
export function publicPackages(): { dir: string; manifest: Manifest }[];
/** The manifest a published tarball carries, from the development manifest. */
export function publishedManifest(development: Manifest): Manifest;
/** Every file path an exports map, `main`, `types` or `bin` names. */
export function entryPoints(manifest: Manifest): string[];
/** Files in dist/ that no source in src/ produces. */
export function staleOutputs(packageDir: string): string[];
/** What would ship wrong from `packageDir` with `manifest`. */
export function packProblems(packageDir: string, manifest: Manifest): string[];
/** Puts back a development manifest a pack left behind; true if there was one. */
export function restoreManifest(packageDir: string): boolean;
/** Restores every leftover development manifest in the repository; returns the folders restored. */
export function restoreAll(): string[];
