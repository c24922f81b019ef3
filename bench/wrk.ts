// Runs wrk pinned to core 1 and reads its report.
import { checkInterrupted, start } from "./processes";

export interface WrkRun {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** "Non-2xx or 3xx responses" */
  non2xx: number;
  /** connect + read + write + timeout */
  socketErrors: number;
}

export interface WrkOptions {
  url: string;
  script: string;
  /** Passed to the script's init(): entry count and API token. */
  scriptArgs: string[];
  connections: number;
  seconds: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latencyMs(output: string, percentile: string): number {
  const match = new RegExp(`^\\s+${percentile}%\\s+([\\d.]+)(us|ms|s|m)$`, "m").exec(output);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
}

export function parseWrk(output: string): WrkRun {
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSec: number(/^Requests\/sec:\s+([\d.]+)/m),
    p50Ms: latencyMs(output, "50"),
    p99Ms: latencyMs(output, "99"),
    requests: number(/^\s+(\d+) requests in/m),
    non2xx: number(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** One wrk run (`-d` bounds it); returns wrk's raw report. */
export async function runWrk(options: WrkOptions): Promise<string> {
  const cmd = [
    "taskset", "-c", "1",
    "wrk", "-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--latency",
    "-s", options.script, options.url, "--", ...options.scriptArgs,
  ];
  const proc = start(cmd, { captureStdout: true });
  const [output, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
  checkInterrupted();
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${output}`);
  return output;
}
