/**
 * The container image, for real: built by image/build.sh (buildah, bases bootstrapped from Debian
 * packages; no Docker engine, no registry), then two containers of it on the harness's Redis, run as
 * the restricted manifests run it (read-only root, no capabilities, no privilege escalation, the
 * image's own uid). Each answers `GET /` with the leader's name; `podman stop` (SIGTERM) releases the
 * lock, exits 0, and the other container leads at once.
 *
 * Opt-in: run by its own config only, since the first build takes minutes (about one with the base
 * images and the npm cache kept), and it needs root, buildah, podman and mmdebstrap:
 *
 *   npx vitest run --config apps/leader-elector/vitest.image.config.ts
 *
 * TENURE_IMAGE=<name> tests an image already built instead of building one.
 */

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type {} from "@tenure/testing/global-setup";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const BUILD = fileURLToPath(new URL("../../image/build.sh", import.meta.url));
const redis = inject("tenureServers").servers.redis;
if (redis === undefined) throw new Error("the harness did not start redis");
const REDIS_URL = redis.url;
const ELECTION = "image-test";
const started: string[] = [];
let image = process.env.TENURE_IMAGE ?? "";

/**
 * `podman run` flags this kind of machine needs, harmless elsewhere: runc where cgroups are in
 * hybrid mode (crun 1.8 refuses it), and resource limits the process may set (podman's defaults
 * raise them, which needs CAP_SYS_RESOURCE).
 */
function hostFlags(): string[] {
  const flags: string[] = [];
  let controllers = "";
  try {
    controllers = readFileSync("/sys/fs/cgroup/unified/cgroup.controllers", "utf8").trim();
  } catch {}
  if (controllers !== "") flags.push("--runtime=runc");
  const hard = (name: string): number => {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith(name));
    const value = line?.slice(26).trim().split(/\s+/)[1];
    return value === undefined || value === "unlimited" ? Number.POSITIVE_INFINITY : Number(value);
  };
  const nofile = Math.min(hard("Max open files"), 1_048_576);
  const nproc = Math.min(hard("Max processes"), 32_768);
  flags.push(`--ulimit=nofile=${nofile}:${nofile}`, `--ulimit=nproc=${nproc}:${nproc}`);
  return flags;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface Answer {
  name: string;
  validForMs?: number;
  fencingToken?: number;
}

/** Starts a container of the image with the sidecar on 127.0.0.1:<port> (host network). */
async function startContainer(id: string): Promise<{ name: string; url: string }> {
  const port = await freePort();
  const name = `tenure-image-test-${id}-${process.pid}`;
  await run("podman", [
    "run",
    "--detach",
    `--name=${name}`,
    ...hostFlags(),
    "--network=host",
    "--read-only",
    "--read-only-tmpfs=false",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    image,
    "--backend=redis",
    `--redis-url=${REDIS_URL}`,
    `--election=${ELECTION}`,
    `--id=${id}`,
    "--ttl=4s",
    `--http=127.0.0.1:${port}`,
  ]);
  started.push(name);
  return { name, url: `http://127.0.0.1:${port}` };
}

async function answer(url: string, timeoutMs = 30_000): Promise<Answer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/`);
      if (response.ok) return (await response.json()) as Answer;
    } catch {}
    if (performance.now() > deadline) throw new Error(`${url}: no answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function leaderSeenBy(url: string, expected: string, timeoutMs: number): Promise<Answer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = await answer(url);
    if (seen.name === expected || performance.now() > deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function logs(name: string): Promise<string> {
  const { stdout, stderr } = await run("podman", ["logs", name]);
  return stdout + stderr;
}

describe("the leader-elector image", () => {
  beforeAll(async () => {
    if (image === "") {
      const { stdout } = await run(BUILD, [], { maxBuffer: 64 * 1024 * 1024 });
      image = stdout.trim().split("\n").at(-1) ?? "";
    }
    expect(image).not.toBe("");
  }, 30 * 60_000);

  afterAll(async () => {
    for (const name of started) await run("podman", ["rm", "--force", "--time=5", name]).catch(() => {});
  });

  it("runs as uid 1000 from a read-only-friendly layout, with the sidecar as entrypoint", async () => {
    const { stdout } = await run("podman", ["image", "inspect", "--format", "{{json .Config}}", image]);
    const config = JSON.parse(stdout) as { User: string; Entrypoint: string[] };
    expect(config.User).toBe("1000:1000");
    expect(config.Entrypoint).toEqual([
      "/usr/bin/tini",
      "--",
      "/usr/local/bin/node",
      "/app/apps/leader-elector/dist/cli.js",
    ]);
  });

  it("elects on Redis, answers GET / with the leader's name, and hands over on SIGTERM", async () => {
    const first = await startContainer("image-replica-1");
    const one = await leaderSeenBy(first.url, "image-replica-1", 15_000);
    expect(one.name, await logs(first.name)).toBe("image-replica-1");
    expect(one.fencingToken).toBeTypeOf("number");

    const second = await startContainer("image-replica-2");
    expect((await leaderSeenBy(second.url, "image-replica-1", 15_000)).name).toBe("image-replica-1");

    // SIGTERM through tini: the sidecar releases the lock and exits 0; the other leads at once.
    await run("podman", ["stop", "--time=20", first.name]);
    const { stdout: code } = await run("podman", ["inspect", "--format", "{{.State.ExitCode}}", first.name]);
    expect(code.trim()).toBe("0");
    expect(await logs(first.name)).toMatch(/SIGTERM: releasing the lock and exiting/);
    const two = await leaderSeenBy(second.url, "image-replica-2", 3_000);
    expect(two.name, await logs(second.name)).toBe("image-replica-2");
    expect(two.fencingToken ?? 0).toBeGreaterThan(one.fencingToken ?? 0);
  }, 120_000);
});
