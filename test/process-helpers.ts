// Helpers for tests that run datastore as a real process: start it, wait (bounded) for its
// "listening" log line, read its output, stop it. Every wait has a timeout.
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const ENTRY = join(ROOT, "src/index.ts");
const ANSWER_RE = /^HTTP\/1\.[01] (\d{3})/;

/** A fresh temporary folder; the returned `cleanup` removes it. */
export function tempDir(label = "datastore-test-") {
  const dir = mkdtempSync(join(tmpdir(), label));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A well-formed API key: `hklst_` + 43 URL-safe characters. */
export function randomApiKey(): string {
  return "hklst_" + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

/** The environment of the test process without the variables datastore reads, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(HOST|PORT|LOG_LEVEL)$/.test(name) || name.startsWith("DATASTORE_")) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects after `ms` with a message saying what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A port that was free a moment ago. */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

export interface RunningProcess {
  proc: ReturnType<typeof Bun.spawn>;
  stdout(): string;
  stderr(): string;
  /** Waits until `check` (called on each new output) is true, or fails with the output so far. */
  waitFor(check: () => boolean, ms: number, what: string): Promise<void>;
  /** The exit code, waiting at most `ms`. */
  exited(ms?: number): Promise<number>;
  /** SIGKILL if still running. Safe to call more than once. */
  kill(): void;
}

/** Spawns `cmd` and collects stdout/stderr as text while it runs. */
export function spawnProcess(cmd: string[], options: { cwd?: string; env?: Record<string, string> } = {}): RunningProcess {
  const proc = Bun.spawn(cmd, { cwd: options.cwd ?? ROOT, env: options.env ?? cleanEnv(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  const pump = async (stream: ReadableStream<Uint8Array>, append: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      append(decoder.decode(chunk, { stream: true }));
      notify();
    }
  };
  const pumped = Promise.all([
    pump(proc.stdout as ReadableStream<Uint8Array>, (text) => (out += text)),
    pump(proc.stderr as ReadableStream<Uint8Array>, (text) => (err += text)),
  ]).catch(() => {});
  proc.exited.then(notify);

  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    async waitFor(check, ms, what) {
      let listener!: () => void;
      const done = new Promise<void>((resolve, reject) => {
        listener = () => {
          if (check()) resolve();
          else if (proc.exitCode !== null || proc.signalCode !== null) {
            // Give the pipes a moment to drain before judging.
            pumped.then(() => (check() ? resolve() : reject(new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before ${what}\nstdout: ${out}\nstderr: ${err}`))));
          }
        };
        listeners.add(listener);
        listener();
      });
      try {
        await withTimeout(done, ms, `${what}\nstdout: ${out}\nstderr: ${err}`);
      } finally {
        listeners.delete(listener);
      }
    },
    async exited(ms = 10_000) {
      const code = await withTimeout(proc.exited, ms, "the process to exit");
      await withTimeout(pumped, 2_000, "the output pipes to close");
      return code;
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
}

/** The parsed JSON log lines of a process's stderr (non-JSON lines are skipped). */
export function logLines(stderr: string): Record<string, any>[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    });
}

export interface RunningServer extends RunningProcess {
  url: string;
  port: number;
}

/**
 * Starts `cmd` (default: `bun src/index.ts`) with `args` and waits for the "listening" log line,
 * then (unless `waitForHealth` is false) for GET /healthz to answer; returns the URL it logged.
 * Kills the process if it does not get that far.
 *
 * Why wait for /healthz: the server logs "listening" a moment before it installs its
 * SIGTERM/SIGINT handlers, so a signal sent right at that line can kill it uncleanly (see the
 * "SIGTERM right after the listening line" test). One answered request means startup is done.
 */
export async function startServerProcess(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; cmd?: string[]; timeoutMs?: number; waitForHealth?: boolean } = {},
): Promise<RunningServer> {
  const child = spawnProcess([...(options.cmd ?? [process.execPath, ENTRY]), ...args], options);
  const listening = () => logLines(child.stderr()).find((line) => line.message === "listening");
  try {
    await child.waitFor(() => listening() !== undefined, options.timeoutMs ?? 15_000, 'the "listening" log line');
  } catch (error) {
    child.kill();
    throw error;
  }
  const url = String(listening()!.url).replace("//0.0.0.0:", "//127.0.0.1:");
  if (options.waitForHealth !== false) {
    try {
      const health = await withTimeout(fetch(`${url}/healthz`), 5_000, "GET /healthz");
      if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}`);
    } catch (error) {
      child.kill();
      throw error;
    }
  }
  return { ...child, url, port: Number(new URL(url).port) };
}

/** The bootstrap key printed on stdout on first start (waits for the ready curl line). */
export async function bootstrapKey(server: RunningProcess, ms = 5_000): Promise<string> {
  await server.waitFor(() => /curl .*\n/.test(server.stdout()), ms, "the bootstrap key and curl line on stdout");
  return /^\s+(hklst_[A-Za-z0-9_-]+)\s*$/m.exec(server.stdout())![1]!;
}

export interface RawAnswer {
  /** null when the server closed the connection without an answer. */
  status: number | null;
  head: string;
  body: string;
}

/**
 * Sends raw bytes over one TCP connection: `parts` are written in order, with `pauseMs` between
 * them (`beforePart(i)` runs before part i is written). Resolves with the first HTTP answer,
 * or status null if the connection closes without one. Bounded by `timeoutMs`.
 */
export function rawHttp(
  port: number,
  parts: (string | Uint8Array)[],
  options: { pauseMs?: number; beforePart?: (index: number) => Promise<void> | void; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return withTimeout(
    new Promise<RawAnswer>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port });
      let received: Buffer = Buffer.alloc(0);
      let settled = false;
      const finish = (answer: RawAnswer) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        resolve(answer);
      };
      const parsed = (): RawAnswer | null => {
        const text = received.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return null;
        const head = text.slice(0, end);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        const body = received.subarray(end + 4);
        if (length && body.length < Number(length[1])) return null;
        if (!length && !/\r\ntransfer-encoding/i.test(head)) return { status: Number(ANSWER_RE.exec(head)?.[1]), head, body: body.toString("utf8") };
        if (!length) return null; // a chunked answer: read until the connection closes
        return { status: Number(ANSWER_RE.exec(head)?.[1] ?? NaN), head, body: body.subarray(0, Number(length[1])).toString("utf8") };
      };
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const answer = parsed();
        if (answer) finish(answer);
      });
      const closed = () => {
        const text = received.toString("latin1");
        const status = ANSWER_RE.exec(text)?.[1];
        const end = text.indexOf("\r\n\r\n");
        finish({ status: status ? Number(status) : null, head: end < 0 ? text : text.slice(0, end), body: end < 0 ? "" : received.subarray(end + 4).toString("utf8") });
      };
      socket.on("close", closed);
      socket.on("error", () => {}); // a reset is reported through "close"
      socket.on("connect", async () => {
        for (const [index, part] of parts.entries()) {
          if (settled || socket.destroyed) return;
          if (index > 0 && options.pauseMs) await sleep(options.pauseMs);
          await options.beforePart?.(index);
          if (settled || socket.destroyed) return;
          const ok = socket.write(part);
          if (!ok) await new Promise((resolve) => socket.once("drain", resolve).once("close", resolve));
        }
      });
    }),
    options.timeoutMs ?? 10_000,
    "a raw HTTP answer",
  );
}

/** Runs `bun src/index.ts ...args` to completion (bounded by `timeoutMs`): exit code and output. */
export async function runCliProcess(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const child = spawnProcess([process.execPath, ENTRY, ...args], { env: options.env ?? cleanEnv() });
  try {
    const code = await child.exited(options.timeoutMs ?? 15_000);
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    child.kill();
  }
}

/** Runs a CLI command that must exit 0 and print one JSON document on stdout; returns it parsed. */
export async function cliJsonProcess(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const result = await runCliProcess(args, options);
  if (result.code !== 0) throw new Error(`${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

export interface WriteLockHolder extends RunningProcess {
  /** Resolves once the child holds the write lock (BEGIN IMMEDIATE succeeded). */
  locked: Promise<void>;
  /** Commits and exits the child (SIGUSR2), waiting (bounded) for it to be gone. */
  release(): Promise<void>;
  /** Resolves once the child has released the lock and exited on its own (after `holdMs`). */
  released(ms?: number): Promise<void>;
}

/**
 * Another process holding SQLite's write lock on `db`: a child `bun -e` script with bun:sqlite
 * runs `BEGIN IMMEDIATE` and holds it for `holdMs` (or until release()), then COMMITs and exits.
 * Readers (WAL) are not blocked; every other writer is, until it lets go.
 */
export function holdWriteLock(db: string, holdMs: number): WriteLockHolder {
  const script = `
    const { Database } = require("bun:sqlite");
    const db = new Database(process.env.LOCK_DB);
    db.run("PRAGMA busy_timeout = 10000");
    db.run("BEGIN IMMEDIATE");
    process.stdout.write("locked\\n");
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      db.run("COMMIT");
      db.close();
      process.stdout.write("released\\n");
      process.exit(0);
    };
    process.on("SIGUSR2", release);
    setTimeout(release, Number(process.env.LOCK_MS));
  `;
  const child = spawnProcess([process.execPath, "-e", script], { env: cleanEnv({ LOCK_DB: db, LOCK_MS: String(holdMs) }) });
  const locked = child.waitFor(() => child.stdout().includes("locked\n"), 10_000, "the lock holder to take the write lock");
  locked.catch(() => child.kill());
  return {
    ...child,
    locked,
    async release() {
      if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGUSR2");
      await child.exited(5_000);
    },
    async released(ms = holdMs + 10_000) {
      await child.waitFor(() => child.stdout().includes("released\n"), ms, "the lock holder to release the lock");
      await child.exited(5_000);
    },
  };
}

/** The pids of a process's direct children (Linux /proc). */
export function childPids(pid: number): number[] {
  try {
    const { readdirSync, readFileSync } = require("node:fs") as typeof import("node:fs");
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

export interface WorkerServer extends RunningServer {
  /** The worker processes' pids, as seen once all of them listened. */
  workerPids: number[];
  /** SIGTERM to the supervisor and a bounded wait; then SIGKILL to it and to every worker still alive. */
  stop(): Promise<void>;
}

/**
 * Starts `serve --workers <count>` (args must name a fixed --port) and waits until every worker
 * has logged "listening" and /healthz answers. Kills everything it started if it does not get there.
 */
export async function startWorkerServer(args: string[], count: number, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<WorkerServer> {
  const child = spawnProcess([process.execPath, ENTRY, "serve", ...args, "--workers", String(count)], { env: options.env ?? cleanEnv() });
  const listening = () => logLines(child.stderr()).filter((line) => line.message === "listening");
  let workerPids: number[] = [];
  let stopping: Promise<void> | undefined;
  // A worker pid is only signalled while it is still this server's worker (its command line
  // names this database), never a process that reused the pid.
  const stillOurWorker = (pid: number) => {
    try {
      const cmdline = require("node:fs").readFileSync(`/proc/${pid}/cmdline`, "utf8") as string;
      return cmdline.includes("serve") && args.every((arg) => cmdline.includes(arg));
    } catch {
      return false;
    }
  };
  const stop = () =>
    (stopping ??= (async () => {
      workerPids = [...new Set([...workerPids, ...childPids(child.proc.pid)])];
      if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGTERM");
      try {
        // The supervisor exits only after its workers have (src/workers.ts).
        await withTimeout(child.proc.exited, 15_000, "the supervisor to stop");
        if (child.proc.exitCode === 0) return;
      } catch {
        child.kill();
      }
      for (const pid of workerPids) if (stillOurWorker(pid)) process.kill(pid, "SIGKILL");
    })());
  try {
    await child.waitFor(() => listening().length >= count, options.timeoutMs ?? 20_000, `${count} "listening" log lines`);
    workerPids = childPids(child.proc.pid);
    const url = String(listening()[0]!.url).replace("//0.0.0.0:", "//127.0.0.1:");
    const health = await withTimeout(fetch(`${url}/healthz`), 5_000, "GET /healthz");
    if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}`);
    return { ...child, url, port: Number(new URL(url).port), workerPids, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface ApiAnswer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/**
 * A JSON client for a running server: `Authorization: Bearer <token>` (none when null), bodies
 * JSON-encoded unless already a string, every call bounded by `timeoutMs` (an abort, so a
 * request that times out is really cancelled). `keepalive: false` opens a fresh connection per
 * call (so SO_REUSEPORT spreads calls over the workers).
 */
export function apiClient(base: string, token: string | null, options: { timeoutMs?: number; keepalive?: boolean } = {}) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const all: Record<string, string> = { ...headers };
    if (token !== null) all.authorization ??= `Bearer ${token}`;
    if (body !== undefined) all["content-type"] ??= "application/json";
    const response = await fetch(base + path, {
      method,
      headers: all,
      body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
      keepalive: options.keepalive ?? true,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: response.status, json, text, headers: response.headers };
  };
}
