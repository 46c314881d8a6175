// A stranger installs Tenure. Every public package is packed with `npm pack` (its prepack builds it,
// checks it and strips the in-repo condition), each tarball is checked as the registry would serve
// it (publint, Are The Types Wrong, this project's rules), and the tarballs are installed with plain
// `npm install` into empty projects outside the workspace, peer dependencies from the registry: one
// project with what npm picks today (the newest of each peer range), one with the oldest version of
// each range pinned. In both, every README quick start runs as written against the harness's real
// servers: ES modules, CommonJS through require(), TypeScript type-checked by the project's own tsc
// (module nodenext) and run by Node; the sidecar through `npx leader-elector`; the conformance suite
// through the project's own vitest.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@tenure/testing";
import type {} from "@tenure/testing/global-setup";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkTarball, readTarball } from "../../../scripts/check-tarball.mjs";
import { BACKUP_NAME, publicPackages, SOURCE_CONDITION } from "../../../scripts/pack-manifest.mjs";
import { type QuickStart, quickStarts, Running, run, strangerEnv } from "./support.js";

const { servers } = inject("tenureServers");

/** A stranger's project, and what it installs besides the tarballs. */
interface Consumer {
  readonly name: string;
  readonly install: readonly string[];
  /** Versions the project must end up with (checked after the install). */
  readonly expectVersions: Readonly<Record<string, RegExp>>;
}

const consumers: readonly Consumer[] = [
  {
    // What `npm install` picks today: the newest version of each peer range, and of TypeScript.
    name: "newest",
    install: ["typescript@7", "@types/node@^24", "@types/ws@^8"],
    expectVersions: {
      ioredis: /^6\./,
      "@kubernetes/client-node": /^2\./,
      etcd3: /^1\.1\./,
      "prom-client": /^15\./,
      vitest: /^5\./,
      typescript: /^7\./,
    },
  },
  {
    // The oldest version each peer range of the packages admits, and the oldest TypeScript that
    // types require() of an ES module under module nodenext.
    name: "oldest",
    install: [
      "ioredis@5.0.0",
      "@kubernetes/client-node@2.0.0",
      "etcd3@1.1.2",
      "prom-client@15.0.0",
      // 4.1.0, not 4.0.0: vitest 4.0.0 fails with the vite 7.3 npm installs for it today
      // ("Unknown method: getBuiltins"), whatever the tests.
      "vitest@4.1.0",
      "typescript@~5.8.3",
      "@types/node@^24",
      "@types/ws@^8",
    ],
    expectVersions: {
      ioredis: /^5\.0\.0$/,
      "@kubernetes/client-node": /^2\.0\.0$/,
      etcd3: /^1\.1\.2$/,
      "prom-client": /^15\.0\.0$/,
      vitest: /^4\.1\.0$/,
      typescript: /^5\.8\./,
    },
  },
];
// (@types/ws: @kubernetes/client-node's declarations import the types of `ws` without depending on
// them; a project that type-checks library declarations, as below, adds them. Its README says so.)

const packages = publicPackages();
const manifestPath = (dir: string): string => join(repoRoot, dir, "package.json");
const manifestsBefore = new Map(packages.map(({ dir }) => [dir, readFileSync(manifestPath(dir))]));
const examples = quickStarts();

let work = "";
let tarballDir = "";
let failed = false;
const running: Running[] = [];
const projectDir = (consumer: Consumer): string => join(work, consumer.name);

function server<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`the global setup provided no ${name}`);
  return value;
}

const env = {
  redis: () => ({ REDIS_URL: server(servers.redis, "redis").url }),
  etcd: () => ({ ETCD_ENDPOINTS: server(servers.etcd, "etcd").endpoints.join(",") }),
  consul: () => ({ CONSUL_HTTP_ADDR: server(servers.consul, "consul").address }),
  kubernetes: () => ({ KUBECONFIG: server(servers.kubernetes, "kubernetes").kubeconfig }),
  none: () => ({}),
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "tenure-install-"));
  tarballDir = join(work, "tarballs");
  mkdirSync(tarballDir);
  // As a maintainer packs: the workspace's npm, each package's prepack and postpack.
  await run(
    "npm",
    ["pack", "--pack-destination", tarballDir, ...packages.flatMap(({ manifest }) => ["-w", manifest.name])],
    { cwd: repoRoot, env: strangerEnv(), timeoutMs: 20 * 60_000 },
  );
  // As a stranger installs: an empty project, the tarballs, their own TypeScript; npm brings the
  // peer dependencies it is not given (ioredis, etcd3, @kubernetes/client-node, prom-client, vitest).
  const tarballs = readdirSync(tarballDir).map((name) => join(tarballDir, name));
  for (const consumer of consumers) {
    const dir = projectDir(consumer);
    mkdirSync(dir);
    const manifest = { name: `stranger-${consumer.name}`, version: "1.0.0", private: true, type: "module" };
    writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await run("npm", ["install", "--no-audit", "--no-fund", ...tarballs, ...consumer.install], {
      cwd: dir,
      timeoutMs: 15 * 60_000,
    });
    for (const example of examples.values()) writeFileSync(join(dir, example.file), example.code);
  }
}, 40 * 60_000);

afterAll(() => {
  for (const program of running) program.kill();
  if (work === "") return;
  if (failed || process.env.TENURE_KEEP_INSTALL === "1") {
    console.error(`install test: the packed tarballs and the consumer projects are in ${work}`);
  } else {
    rmSync(work, { recursive: true, force: true });
  }
});

/** Runs `body`, remembering a failure so the work folder is kept for a look. */
function step(name: string, body: () => Promise<void> | void, timeoutMs?: number): void {
  it(
    name,
    async () => {
      try {
        await body();
      } catch (error) {
        failed = true;
        throw error;
      }
    },
    timeoutMs,
  );
}

function start(
  dir: string,
  label: string,
  args: readonly string[],
  extra: Record<string, string> = {},
): Running {
  const program = new Running(label, "node", args, { cwd: dir, env: strangerEnv(extra) });
  running.push(program);
  return program;
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => probe.once("listening", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("the packed tarballs", () => {
  step(
    "hold dist/ with ES modules and type declarations, LICENSE and CHANGELOG, and pass publint, attw and our rules",
    async () => {
      const tarballs = readdirSync(tarballDir).sort();
      expect(tarballs).toHaveLength(packages.length);
      const problems: string[] = [];
      for (const tarball of tarballs) {
        const path = join(tarballDir, tarball);
        const files = readTarball(path);
        const manifest = JSON.parse(files.get("package.json")?.toString("utf8") ?? "{}") as {
          exports?: unknown;
        };
        // Every `default` export is a module built into dist/, with its declarations beside it.
        for (const match of JSON.stringify(manifest.exports).matchAll(/"default":"\.\/(dist\/[^"]+)\.js"/g)) {
          for (const suffix of [".js", ".d.ts"]) {
            if (!files.has(`${match[1]}${suffix}`))
              problems.push(`${tarball}: ${match[1]}${suffix} is missing`);
          }
        }
        problems.push(...(await checkTarball(path)).map((problem) => `${tarball}: ${problem}`));
      }
      expect(problems).toEqual([]);
    },
  );

  step("leave the development manifests byte for byte as they were, the source condition only there", () => {
    for (const { dir, manifest } of packages) {
      expect(readFileSync(manifestPath(dir)).equals(manifestsBefore.get(dir) ?? Buffer.alloc(0)), dir).toBe(
        true,
      );
      expect(readdirSync(join(repoRoot, dir)), dir).not.toContain(BACKUP_NAME);
      const development = JSON.stringify(manifest);
      if (development.includes('"exports"')) expect(development, dir).toContain(SOURCE_CONDITION);
    }
    for (const tarball of readdirSync(tarballDir)) {
      const files = readTarball(join(tarballDir, tarball));
      expect(files.get("package.json")?.toString("utf8"), tarball).not.toContain(SOURCE_CONDITION);
    }
  });

  step("every README quick start has a way to run in the projects, and nothing else is claimed", () => {
    expect([...examples.keys()].sort()).toEqual(Object.keys(runners).sort());
  });
});

for (const consumer of consumers) {
  describe(`a stranger's project with the ${consumer.name} peer dependencies`, () => {
    const dir = (): string => projectDir(consumer);

    step("has the versions it asked for (or npm picked)", () => {
      for (const [name, version] of Object.entries(consumer.expectVersions)) {
        const installed = JSON.parse(
          readFileSync(join(dir(), "node_modules", name, "package.json"), "utf8"),
        ) as {
          version: string;
        };
        expect(installed.version, name).toMatch(version);
      }
    });

    step(
      "its own tsc type-checks the TypeScript quick starts and require() of the packages (module nodenext)",
      async () => {
        // What a user writes: module nodenext, strict; and no skipLibCheck, so our declarations are
        // checked along with the code that uses them.
        const compilerOptions = {
          module: "nodenext",
          target: "es2023",
          strict: true,
          noEmit: true,
          types: ["node"],
        };
        writeFileSync(
          join(dir(), "tsconfig.json"),
          `${JSON.stringify({ compilerOptions, include: ["*.ts", "*.cts", "*.mts"] }, null, 2)}\n`,
        );
        // TypeScript in a CommonJS file: `import x = require()` of the ES modules (TypeScript 5.8+).
        writeFileSync(
          join(dir(), "require-types.cts"),
          [
            'import core = require("@tenure/core");',
            'import memory = require("@tenure/memory");',
            'import redis = require("@tenure/redis");',
            "const elector: core.Elector = new core.Elector({",
            '  store: memory.createMemoryStore(), name: "typed", identity: "cjs",',
            "});",
            "const options: redis.RedisLockStoreOptions = { keyPrefix: elector.name };",
            "export = options;",
            "",
          ].join("\n"),
        );
        const tsc = join(dir(), "node_modules", "typescript", "bin", "tsc");
        const result = await run("node", [tsc, "-p", "tsconfig.json"], { cwd: dir(), allowFailure: true });
        expect(`${result.stdout}${result.stderr}`.trim()).toBe("");
        expect(result.code).toBe(0);
      },
    );

    step("CommonJS: require() loads every package and entry point, without a warning", async () => {
      const entries = packages.flatMap(({ manifest }) =>
        Object.keys((manifest.exports as Record<string, unknown> | undefined) ?? {}).map((subpath) =>
          subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
        ),
      );
      writeFileSync(
        join(dir(), "require-all.cjs"),
        [
          `const entries = ${JSON.stringify(entries)};`,
          "for (const entry of entries) {",
          "  const loaded = require(entry);",
          '  if (Object.keys(loaded).length === 0) throw new Error(entry + " exports nothing");',
          "}",
          'console.log("required " + entries.length + " entry points");',
          "",
        ].join("\n"),
      );
      const result = await run("node", ["require-all.cjs"], { cwd: dir() });
      expect(result.stdout.trim()).toBe(`required ${entries.length} entry points`);
      expect(result.stderr).toBe("");
    });

    for (const file of [...examples.keys()].sort()) {
      step(
        `${file} (${examples.get(file)?.readme}) runs as written`,
        async () => {
          const runner = runners[file];
          if (runner === undefined) throw new Error(`no way to run ${file} here`);
          await runner(examples.get(file) as QuickStart, dir());
        },
        180_000,
      );
    }

    step(
      "the sidecar: `npx leader-elector` on Redis answers GET / with its name; started as a process manager would, it releases and exits 0 on SIGTERM",
      async () => {
        const redisUrl = server(servers.redis, "redis").url;
        const readme = readFileSync(join(repoRoot, "apps/leader-elector/README.md"), "utf8");
        const documented =
          "npx leader-elector --election=example --backend=redis --redis-url=redis://127.0.0.1:6379 --http=127.0.0.1:4040";
        expect(readme).toContain(documented);
        const argsOn = (port: number): string[] =>
          documented
            .split(" ")
            .slice(2)
            .map((arg) =>
              arg
                .replace("redis://127.0.0.1:6379", redisUrl)
                .replace("127.0.0.1:4040", `127.0.0.1:${port}`)
                .replace("--election=example", `--election=install-test-${consumer.name}`),
            );
        // As the README has it: through npx. Its own process group, signalled as a whole as Ctrl-C
        // in a terminal does: npx does not pass a signal sent to it alone on to the command.
        const viaNpx = await freePort();
        const tried = new Running("npx leader-elector", "npx", ["leader-elector", ...argsOn(viaNpx)], {
          cwd: dir(),
          env: strangerEnv(),
          group: true,
        });
        running.push(tried);
        await answersWithName(viaNpx, tried);
        tried.signal("SIGTERM");
        await tried.exited(20_000);
        // npm itself ends at once; the sidecar, signalled with it, releases and then exits.
        const deadline = Date.now() + 20_000;
        while (groupAlive(tried) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 100));
        expect(groupAlive(tried), tried.output).toBe(false);
        expect(tried.output).toContain("SIGTERM: releasing the lock and exiting");
        expect(tried.output).toContain("stopped leading (stopped)");
        // As a process manager runs it: the installed command itself, which gets the SIGTERM.
        const direct = await freePort();
        const managed = start(dir(), "leader-elector", [
          "node_modules/.bin/leader-elector",
          ...argsOn(direct),
        ]);
        await answersWithName(direct, managed);
        managed.child.kill("SIGTERM");
        expect(await managed.exited(20_000), managed.output).toBe(0);
        expect(managed.output).toContain("stopped leading (stopped)");
      },
      120_000,
    );
  });
}

/** Polls the sidecar's `GET /` until it names this host (the default `--id`). */
async function answersWithName(port: number, sidecar: Running): Promise<void> {
  const deadline = Date.now() + 60_000;
  let answer: { name?: unknown } = {};
  while (answer.name !== hostname()) {
    if (Date.now() > deadline) {
      throw new Error(`GET / never named ${hostname()}: ${JSON.stringify(answer)}\n${sidecar.output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    answer = (await fetch(`http://127.0.0.1:${port}/`).then(
      (response) => response.json(),
      () => ({}),
    )) as { name?: unknown };
  }
}

/** Whether any process of the group `program` was started in still runs. */
function groupAlive(program: Running): boolean {
  const pid = program.child.pid;
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Runner = (example: QuickStart, dir: string) => Promise<void>;

/** Runs a quick start that ends by itself; it must exit 0 and print `pattern`. */
function runsToEnd(pattern: RegExp, backend: keyof typeof env = "none"): Runner {
  return async (example, dir) => {
    const program = start(dir, example.file, [example.file], env[backend]());
    expect(await program.exited(60_000), program.output).toBe(0);
    expect(program.stdout).toMatch(pattern);
  };
}

/** Runs a quick start that leads until signalled; it must print `pattern`, then exit 0 on `signal`. */
function leadsUntil(pattern: RegExp, backend: keyof typeof env, signal: NodeJS.Signals = "SIGTERM"): Runner {
  return async (example, dir) => {
    const program = start(dir, example.file, [example.file], env[backend]());
    await program.waitFor(pattern, 60_000);
    program.child.kill(signal);
    expect(await program.exited(20_000), program.output).toBe(0);
  };
}

const runners: Record<string, Runner> = {
  // Root README: "run it in two terminals; stop one with Ctrl-C and watch the other take over".
  "report.mjs": async (example, dir) => {
    const first = start(dir, "report.mjs (first)", [example.file], env.redis());
    await first.waitFor(/working as leader, token \d+/, 60_000);
    const second = start(dir, "report.mjs (second)", [example.file], env.redis());
    // Give the second candidate time to see the lock, so it waits on a held lease.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(second.stdout).not.toMatch(/working as leader/);
    first.child.kill("SIGINT");
    expect(await first.exited(20_000), first.output).toBe(0);
    // Released on Ctrl-C: the takeover comes well within the 15 s lease.
    const released = Date.now();
    await second.waitFor(/working as leader, token \d+/, 10_000);
    expect(Date.now() - released).toBeLessThan(10_000);
    second.child.kill("SIGINT");
    expect(await second.exited(20_000), second.output).toBe(0);
  },
  "controller.ts": leadsUntil(/leading with fencing token \d+/, "kubernetes"),
  "election.ts": runsToEnd(/replica-\d took over with token \d+/),
  "election.cjs": runsToEnd(/leading from CommonJS, fencing token \d+/),
  "memory.mjs": runsToEnd(/^[ab] leads, fencing token \d+$/m),
  "metrics.mjs": runsToEnd(/^tenure_is_leader\{[^}]*election="reports"[^}]*\} 1$/m),
  "reports.mjs": leadsUntil(/generating reports as leader, fencing token \d+/, "kubernetes"),
  "scheduler.ts": leadsUntil(/scheduling as leader, fencing token \d+/, "etcd"),
  "jobs.ts": leadsUntil(/running jobs as leader, fencing token \d+/, "redis"),
  "worker.ts": leadsUntil(/working as leader, fencing token \d+/, "consul"),
  // @tenure/backends: the same file opens each backend the registry knows.
  "open.ts": async (example, dir) => {
    const backends = {
      redis: env.redis(),
      etcd: env.etcd(),
      consul: env.consul(),
      kubernetes: env.kubernetes(),
      memory: {},
    };
    for (const [backend, variables] of Object.entries(backends)) {
      const program = start(dir, `open.ts (${backend})`, [example.file], {
        ...variables,
        TENURE_BACKEND: backend,
      });
      expect(await program.exited(60_000), program.output).toBe(0);
      expect(program.stdout, program.output).toMatch(
        new RegExp(`^leading on ${backend}(/\\w+)?, fencing token \\d+$`, "m"),
      );
    }
  },
  // @tenure/conformance: the suite, registered with the project's own vitest (a peer dependency).
  "memory.conformance.test.ts": async (example, dir) => {
    const vitest = join(dir, "node_modules", "vitest", "vitest.mjs");
    const result = await run("node", [vitest, "run", example.file], { cwd: dir, timeoutMs: 170_000 });
    expect(result.stdout).toMatch(/Tests\s+\d+ passed/);
    expect(result.stdout).not.toMatch(/failed|skipped/);
  },
};
