import { describe, expect, it } from "vitest";
import {
  apiserverRequestCounts,
  diffCounts,
  etcdGrpcCounts,
  parseConsulMetrics,
  parsePrometheus,
  parseRedisCommandStats,
} from "../src/parsers.js";

describe("Redis INFO commandstats", () => {
  it("reads calls per command", () => {
    const info = [
      "# Commandstats",
      "cmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0",
      "cmdstat_evalsha_ro:calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=0",
      "cmdstat_PING:calls=7,usec=1,usec_per_call=0.14,rejected_calls=0,failed_calls=0",
      "",
    ].join("\r\n");
    expect(parseRedisCommandStats(info)).toEqual({ evalsha: 120, evalsha_ro: 3, ping: 7 });
  });
});

const etcdMetrics = `# HELP grpc_server_handled_total Total number of RPCs completed on the server.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_handled_total{grpc_code="FailedPrecondition",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 40
grpc_server_handled_total{grpc_code="OK",grpc_method="Status",grpc_service="etcdserverpb.Maintenance",grpc_type="unary"} 9
grpc_server_started_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 41
`;

describe("Prometheus text", () => {
  it("parses names, labels (with escapes) and values", () => {
    const samples = parsePrometheus('a_total{x="1",y="q\\"uote"} 3\nb 4.5e1\n# comment\n');
    expect(samples).toEqual([
      { name: "a_total", labels: { x: "1", y: 'q"uote' }, value: 3 },
      { name: "b", labels: {}, value: 45 },
    ]);
  });

  it("sums etcd's completed calls per KV method, whatever the code", () => {
    expect(etcdGrpcCounts(etcdMetrics)).toEqual({ Range: 13, Txn: 40 });
  });

  it("sums kube-apiserver requests per verb for the given resources", () => {
    const text = [
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 30',
      'apiserver_request_total{code="409",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 2',
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="GET",version="v1"} 5',
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 99',
    ].join("\n");
    expect(apiserverRequestCounts(text, ["leases"])).toEqual({ "PUT leases": 32, "GET leases": 5 });
  });
});

describe("Consul agent metrics", () => {
  it("reads the interval's start and counts per name and labels", () => {
    const interval = parseConsulMetrics({
      Timestamp: "2026-11-25 09:02:00 +0000 UTC",
      Gauges: [{ Name: "consul.raft.applied_index", Value: 17, Labels: {} }],
      Counters: [{ Name: "consul.client.rpc", Count: 4, Labels: {} }],
      Samples: [
        { Name: "consul.api.http", Count: 33, Labels: { method: "PUT", path: "v1_txn" } },
        { Name: "consul.api.http", Count: 66, Labels: { method: "GET", path: "v1_kv_" } },
        { Name: "consul.kvs.apply", Count: 1, Labels: {} },
      ],
    });
    expect(interval.startMs).toBe(Date.parse("2026-11-25T09:02:00Z"));
    expect(interval.counts).toEqual({
      "consul.client.rpc": 4,
      "consul.api.http PUT v1_txn": 33,
      "consul.api.http GET v1_kv_": 66,
      "consul.kvs.apply": 1,
    });
  });

  it("refuses what is not an object", () => {
    expect(() => parseConsulMetrics("nope")).toThrow(/not an object/);
  });
});

describe("diffCounts", () => {
  it("keeps what changed", () => {
    expect(diffCounts({ a: 1, b: 2 }, { a: 1, b: 5, c: 1 })).toEqual({ b: 3, c: 1 });
  });
});
