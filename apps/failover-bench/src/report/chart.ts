/** docs/benchmarks/chart.svg: failover times per backend, crash and graceful side by side. */
import type { FailoverResult } from "../types.js";
import { CRASH_SLACK_MS, GRACEFUL_LIMIT_MS } from "./verdicts.js";

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A rounded-up axis maximum: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function defaultTitle(rows: readonly FailoverResult[]): string {
  const first = rows[0];
  const timing =
    first === undefined
      ? ""
      : ` — lease ${first.leaseMs / 1000} s, renew ${first.renewDeadlineMs / 1000} s, retry ${first.retryPeriodMs / 1000} s, 3 candidates`;
  return `Failover time, kill → next started-leading${timing}`;
}

/** Two panels (crash, graceful); per backend and implementation a p50 bar and a p99 bar, and the target line. */
export function renderSvg(rows: readonly FailoverResult[], title = defaultTitle(rows)): string {
  const panelWidth = 460;
  const height = 360;
  const top = 64;
  const bottom = 300;
  const left = 60;
  const parts: string[] = [];
  const width = panelWidth * 2 + 40;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 30}" viewBox="0 0 ${width} ${height + 30}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  (["crash", "graceful"] as const).forEach((scenario, panel) => {
    const x0 = 20 + panel * (panelWidth + 20);
    const series = rows.filter((row) => row.scenario === scenario && row.samplesMs.length > 0);
    const limit =
      series.length === 0
        ? GRACEFUL_LIMIT_MS
        : scenario === "crash"
          ? Math.max(...series.map((row) => row.leaseMs)) + CRASH_SLACK_MS
          : GRACEFUL_LIMIT_MS;
    const max = niceMax(Math.max(limit, ...series.map((row) => row.p99Ms)) * 1.1);
    const y = (value: number): number => bottom - (Math.min(value, max) / max) * (bottom - top);
    parts.push(
      `<text x="${x0 + panelWidth / 2}" y="${top - 12}" text-anchor="middle" font-size="13" font-weight="bold">${scenario === "crash" ? "Crash (SIGKILL)" : "Graceful (SIGTERM, release)"}</text>`,
    );
    for (let tick = 0; tick <= 5; tick++) {
      const value = (max / 5) * tick;
      parts.push(
        `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e5e5"/>`,
        `<text x="${x0 + left - 6}" y="${y(value) + 4}" text-anchor="end" fill="#555">${Math.round(value)} ms</text>`,
      );
    }
    const slot = series.length === 0 ? 0 : (panelWidth - left - 10) / series.length;
    const bar = Math.min(28, slot / 3);
    series.forEach((row, index) => {
      const cx = x0 + left + 5 + slot * index + slot / 2;
      const go = row.implementation === "client-go";
      const colors = go ? ["#d97706", "#fbbf24"] : ["#2563eb", "#93c5fd"];
      for (const [offset, value, color, label] of [
        [-bar, row.p50Ms, colors[0], "p50"],
        [0, row.p99Ms, colors[1], "p99"],
      ] as const) {
        parts.push(
          `<rect x="${cx + offset}" y="${y(value)}" width="${bar}" height="${bottom - y(value)}" fill="${color}"><title>${escapeXml(`${row.backend} ${row.implementation} ${scenario} ${label} ${value} ms`)}</title></rect>`,
          `<text x="${cx + offset + bar / 2}" y="${y(value) - 3}" text-anchor="middle" font-size="9">${Math.round(value)}</text>`,
        );
      }
      parts.push(
        `<text x="${cx}" y="${bottom + 14}" text-anchor="middle">${escapeXml(row.backend)}</text>`,
        `<text x="${cx}" y="${bottom + 27}" text-anchor="middle" fill="#555">${escapeXml(go ? "client-go" : row.processes ? "Tenure" : "in-process")}</text>`,
      );
    });
    parts.push(
      `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${y(limit)}" y2="${y(limit)}" stroke="#dc2626" stroke-dasharray="5 4"/>`,
      `<text x="${x0 + left + 4}" y="${y(limit) - 4}" fill="#dc2626">target: p99 ≤ ${Math.round(limit)} ms</text>`,
      `<line x1="${x0 + left}" x2="${x0 + left}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
      `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
    );
  });
  const legendY = height + 10;
  const legend: [string, string][] = [
    ["#2563eb", "Tenure p50"],
    ["#93c5fd", "Tenure p99"],
    ["#d97706", "client-go p50"],
    ["#fbbf24", "client-go p99"],
  ];
  legend.forEach(([color, label], index) => {
    const lx = 80 + index * 150;
    parts.push(
      `<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${color}"/>`,
      `<text x="${lx + 18}" y="${legendY + 10}">${label}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
