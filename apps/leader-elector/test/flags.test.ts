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
      lock: "lease",
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
      /--lock: must be one of lease, endpoints, configmap, migrate/,
    ],
    [
      ["--election=e", "--backend=redis", "--redis-url=http://x"],
      /--redis-url: "http:\/\/x" must start with redis:\/\/ or rediss:\/\//,
    ],
    [["--election=e", "--backend=etcd", "--etcd-endpoints=nope"], /--etcd-endpoints: "nope" is not a URL/],
  ])("rejects bad backend settings %j", (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it("parses durations and addresses the way Go programs write them", () => {
    expect(parseDuration("--ttl", "1m30s")).toBe(90_000);
    expect(parseDuration("--ttl", "250ms")).toBe(250);
    expect(parseHostPort(":4040")).toEqual({ host: "0.0.0.0", port: 4040 });
    expect(parseHostPort("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
  });
});
