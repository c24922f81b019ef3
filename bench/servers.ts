// The two servers under test, each started pinned to core 0 on its own copy of a database.
import type { Subprocess } from "bun";
import { rssKb, sleep, start, stop } from "./processes";

export type TargetName = "datastore" | "stick";
export type Durability = "normal" | "full";

export interface ServerSpec {
  port: number;
  db: string;
  durability: Durability;
  orgId: string;
  token: string;
  logFile: string;
}

export interface Server {
  target: TargetName;
  url: string;
  proc: Subprocess;
  /** RSS right after it first answered, KiB. */
  rssIdleKb: number | null;
  /** Highest RSS seen while wrk ran against it, KiB. */
  rssMaxKb: number;
}

export const DATASTORE_BINARY = "dist/datastore";

function command(target: TargetName, spec: ServerSpec): string[] {
  // Only "full" is passed: Datastore without --durability support still runs the normal rows.
  const durability = spec.durability === "full" ? ["--durability", "full"] : [];
  if (target === "datastore") {
    return ["taskset", "-c", "0", DATASTORE_BINARY, "serve", "--port", String(spec.port), "--db", spec.db, ...durability];
  }
  return [
    "taskset", "-c", "0", process.execPath, "bench/stick.ts",
    "--port", String(spec.port), "--db", spec.db, "--token", spec.token, "--org", spec.orgId, ...durability,
  ];
}

/** Datastore must answer 200 on /healthz; the stick (which has no such route) just answer. */
const isReady = (target: TargetName, status: number) => target === "stick" || status === 200;

/**
 * Polls `url/healthz` until ready; false if the process exits first (e.g. it refused a flag).
 * Throws when neither happens within `timeoutMs`.
 */
async function waitReady(target: TargetName, proc: Subprocess, url: string, timeoutMs = 30_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    try {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (isReady(target, response.status)) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(1);
  }
  throw new Error(`${target} did not answer on ${url} within ${timeoutMs} ms`);
}

/** Starts a server and waits for it; null when it exits before answering. */
export async function startServer(target: TargetName, spec: ServerSpec): Promise<Server | null> {
  const proc = start(command(target, spec), { env: { ...process.env, LOG_LEVEL: "warn" }, logFile: spec.logFile });
  const url = `http://127.0.0.1:${spec.port}`;
  try {
    if (!(await waitReady(target, proc, url))) return null;
  } catch (error) {
    await stop(proc);
    throw error;
  }
  return { target, url, proc, rssIdleKb: await rssKb(proc.pid), rssMaxKb: 0 };
}

/** Milliseconds from spawning the Datastore binary to its first 200 from /healthz. */
export async function coldStartMs(spec: ServerSpec): Promise<number> {
  const started = performance.now();
  const proc = start(command("datastore", spec), { env: { ...process.env, LOG_LEVEL: "warn" }, logFile: spec.logFile });
  try {
    if (!(await waitReady("datastore", proc, `http://127.0.0.1:${spec.port}`))) throw new Error("datastore exited during a cold start");
    return performance.now() - started;
  } finally {
    await stop(proc);
  }
}

/** Samples the server's RSS every 100 ms while `work` runs, keeping the maximum. */
export async function withRssSampling<T>(server: Server, work: () => Promise<T>): Promise<T> {
  const sample = async () => {
    server.rssMaxKb = Math.max(server.rssMaxKb, (await rssKb(server.proc.pid)) ?? 0);
  };
  const timer = setInterval(sample, 100);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await sample();
  }
}

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}
