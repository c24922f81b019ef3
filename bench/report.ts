// Medians, ranges and the markdown tables.
import type { WrkRun } from "./wrk";

export interface CellStats {
  runs: number;
  rpsMedian: number;
  rpsMin: number;
  rpsMax: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses plus socket errors, summed over the measured runs. */
  errors: number;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(runs: WrkRun[]): CellStats {
  const rps = runs.map((run) => run.requestsPerSec);
  return {
    runs: runs.length,
    rpsMedian: median(rps),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    errors: runs.reduce((sum, run) => sum + run.non2xx + run.socketErrors, 0),
  };
}

const NA = "n/a";
const integer = (n: number) => Math.round(n).toLocaleString("en-US");

export const formatMs = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? NA : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
export const formatMb = (kb: number | null | undefined) => (kb == null ? NA : (kb / 1024).toFixed(0));

/** `12,345 (11,900–12,800)`, or just the number for a single run. */
export function formatRps(stats: CellStats | undefined): string {
  if (!stats) return NA;
  const range = stats.runs > 1 ? ` (${integer(stats.rpsMin)}–${integer(stats.rpsMax)})` : "";
  return integer(stats.rpsMedian) + range;
}

export function formatRatio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || !(denominator > 0)) return NA;
  return `${(numerator / denominator).toFixed(2)}×`;
}

export function markdownTable(title: string, headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [`### ${title}`, "", line(headers), line(headers.map(() => "---")), ...rows.map(line), ""].join("\n");
}
