import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/duration.js";
import { parseFlags, parseHostPort } from "../src/flags.js";

describe("flags", () => {
  it("keeps the 2016 sidecar's defaults: ttl 10s, renew deadline ttl/2, retry ttl/4, namespace default", () => {
    const flags = parseFlags(["--election=example", "--http=0.0.0.0:4040"], {});
    expect(flags).toMatchObject({
      election: "example",
      electionNamespace: "default",
      ttlMs: 10_000,
      renewDeadlineMs: 5_000,
      retryPeriodMs: 2_500,
      http: { host: "0.0.0.0", port: 4040 },
      backend: "memory",
    });
    expect(flags.id.length).toBeGreaterThan(0);
  });

  it("derives timings from --ttl unless they are given", () => {
    expect(parseFlags(["--election=e", "--ttl=4s"], {})).toMatchObject({
      ttlMs: 4000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 1000,
    });
    expect(parseFlags(["--election=e", "--ttl=4s", "--retry-period=500ms"], {})).toMatchObject({
      retryPeriodMs: 500,
    });
  });

  it("reads the environment when flags are absent", () => {
    expect(parseFlags([], { TENURE_ELECTION: "from-env", TENURE_ID: "pod-7" })).toMatchObject({
      election: "from-env",
      id: "pod-7",
    });
  });

  it.each([
    [[], /--election: is required/],
    [["--election=e", "--ttl=10"], /--ttl: "10" is not a duration/],
    [["--election=e", "--backend=zookeeper"], /--backend: must be one of/],
    [["--election=e", "--http=4040"], /--http: "4040" is not host:port/],
    [["--election=e", "--bogus"], /Unknown option '--bogus'/],
    [["--election=e", "--log-format=xml"], /--log-format/],
  ])("rejects %j with a message naming the flag", (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it("defaults to the kubernetes backend inside a cluster, and reads each backend's settings", () => {
    expect(parseFlags(["--election=e"], { KUBERNETES_SERVICE_HOST: "10.0.0.1" }).store).toEqual({
      kind: "kubernetes",
      lock: "auto",
      kubeconfig: undefined,
    });
    expect(
      parseFlags(["--election=e", "--backend=kubernetes", "--lock=endpoints", "--kubeconfig=/k"], {}).store,
    ).toEqual({
      kind: "kubernetes",
      lock: "endpoints",
      kubeconfig: "/k",
    });
    expect(
      parseFlags(
        ["--election=e", "--backend=etcd", "--etcd-endpoints=http://127.0.0.1:1,https://127.0.0.1:2"],
        {
          TENURE_ETCD_PASSWORD: "secret",
        },
      ).store,
    ).toMatchObject({
      kind: "etcd",
      endpoints: ["http://127.0.0.1:1", "https://127.0.0.1:2"],
      password: "secret",
    });
    expect(parseFlags(["--election=e", "--backend=consul"], { CONSUL_HTTP_TOKEN: "t" }).store).toMatchObject({
      kind: "consul",
      address: "127.0.0.1:8500",
      token: "t",
    });
    expect(parseFlags(["--election=e", "--backend=redis", "--redis-ca=/ca.pem"], {}).store).toMatchObject({
      kind: "redis",
      url: "redis://127.0.0.1:6379",
      tls: { caFile: "/ca.pem" },
    });
  });

  it.each([
    [
      ["--election=e", "--backend=kubernetes", "--lock=zookeeper"],
      /--lock: must be one of auto, lease, endpoints, configmap, migrate/,
    ],
    [
      ["--election=e", "--backend=redis", "--redis-url=http://x"],
      /--redis-url: "http:\/\/x" must start with redis:\/\/ or rediss:\/\//,
    ],
    [["--election=e", "--backend=etcd", "--etcd-endpoints=nope"], /--etcd-endpoints: "nope" is not a URL/],
  ])("rejects bad backend settings %j", (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it("accepts every flag of the 2016 sidecar, with its defaults", () => {
    // The 2016 image's flags: --election, --election-namespace (default "default"), --id (its run.sh
    // passed the hostname), --ttl (default 10s), --http, --use-cluster-credentials (a Go boolean).
    const flags = parseFlags(
      [
        "--election=example",
        "--election-namespace=team-a",
        "--id=pod-1",
        "--ttl=10s",
        "--http=0.0.0.0:4040",
        "--use-cluster-credentials",
      ],
      { KUBERNETES_SERVICE_HOST: "10.0.0.1" },
    );
    expect(flags).toMatchObject({
      election: "example",
      electionNamespace: "team-a",
      id: "pod-1",
      ttlMs: 10_000,
      renewDeadlineMs: 5_000,
      retryPeriodMs: 2_500,
      http: { host: "0.0.0.0", port: 4040 },
      backend: "kubernetes",
      store: { kind: "kubernetes", lock: "auto" },
      useClusterCredentials: true,
      supervise: undefined,
    });
    // Space-separated values and the Go boolean forms parse too.
    expect(parseFlags(["--election", "example", "--ttl", "15s"], {})).toMatchObject({ ttlMs: 15_000 });
    expect(parseFlags(["--election=e", "--use-cluster-credentials=true"], {}).useClusterCredentials).toBe(
      true,
    );
    expect(parseFlags(["--election=e", "--use-cluster-credentials=false"], {}).useClusterCredentials).toBe(
      false,
    );
    expect(parseFlags(["--election=e"], {}).useClusterCredentials).toBe(false);
  });

  it("takes a command after -- as supervise mode, with kill grace and stop timeout", () => {
    expect(parseFlags(["--election=e", "--ttl=10s", "--", "my-job", "--ttl=1s", "--"], {}).supervise).toEqual(
      {
        command: ["my-job", "--ttl=1s", "--"],
        killGraceMs: 2_500,
        stopTimeoutMs: 10_000,
      },
    );
    expect(
      parseFlags(["--election=e", "--ttl=10s", "--kill-grace=4s", "--stop-timeout=25s", "--", "job"], {})
        .supervise,
    ).toMatchObject({ killGraceMs: 4_000, stopTimeoutMs: 25_000 });
  });

  it.each([
    [["--election=e", "--"], /invalid --: must be followed by the command to supervise/],
    [["--election=e", "job"], /Unexpected argument 'job'.*to supervise a command, put it after --/],
    [["--election=e", "--kill-grace=1s"], /--kill-grace: applies to supervise mode only/],
    [
      ["--election=e", "--ttl=10s", "--kill-grace=5s", "--", "job"],
      /--kill-grace: must be shorter than --ttl minus --renew-deadline \(5000 ms\)/,
    ],
    [["--election=e", "--use-cluster-credentials=maybe"], /--use-cluster-credentials: must be true or false/],
    [["--election=e", "--id="], /--id: must not be empty/],
    [["--election=e", "--ttl=4s", "--renew-deadline=4s"], /--renew-deadline: must be shorter than --ttl/],
    [
      ["--election=e", "--ttl=4s", "--retry-period=2s"],
      /--retry-period: must be shorter than --renew-deadline \/ 1.2/,
    ],
    [["--election=e", "--backend=kubernetes", "--ttl=1500ms"], /--ttl: must be whole seconds on Kubernetes/],
  ])("rejects %j naming the flag and the rule", (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it("parses durations and addresses the way Go programs write them", () => {
    expect(parseDuration("--ttl", "1m30s")).toBe(90_000);
    expect(parseDuration("--ttl", "250ms")).toBe(250);
    expect(parseHostPort(":4040")).toEqual({ host: "0.0.0.0", port: 4040 });
    expect(parseHostPort("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
  });
});
