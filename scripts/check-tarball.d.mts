/** The files of a .tgz as npm packs it, by path without the `package/` prefix. */
export function readTarball(file: string): Map<string, Buffer>;
/** This project's rules for a published package (manifest, LICENSE, CHANGELOG, what ships). */
export function manifestProblems(files: Map<string, Buffer>): string[];
/** publint's findings on the tarball, strict. */
export function publintProblems(file: string): Promise<string[]>;
/** Are The Types Wrong's findings on the tarball, ESM-only profile. */
export function attwProblems(file: string): Promise<string[]>;
/** Every problem found in one tarball; empty when it is ready to publish. */
export function checkTarball(file: string): Promise<string[]>;
