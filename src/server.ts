import { createApp } from "./app";
import { createAuthenticator, type Clock } from "./auth";
import { startBackgroundJobs } from "./background";
import { bootstrap } from "./bootstrap";
import { isLoopback, type ServeConfig } from "./config";
import { openDatabase } from "./db/client";
import { migrate } from "./db/migrate";
import { ERRORS, jsonResponse } from "./errors";
import type { Logger } from "./log";
import { createRateLimiter } from "./rate-limit";
import { createSqliteStore } from "./store/sqlite";
import { VERSION } from "./version";

// A server's own SQLite busy wait is short: bun:sqlite blocks the event loop while it waits.
// Longer waits for a lock held by another process happen in the write queue, off the loop.
const SERVER_BUSY_TIMEOUT_MS = 5;
// Bun closes a connection that sends nothing for this long, half-sent requests included.
const IDLE_TIMEOUT_SECONDS = 10;

/**
 * Elysia finds the path by searching for "/" from index 11 of the URL, which skips it when the
 * Host is under 4 characters (`http://api/healthz`); without a Host header at all, Bun's URL is
 * the bare path. Either way every route would answer 404, so such a request is given a longer
 * host (the API never reads the host).
 */
function routable(request: Request): Request {
  const url = request.url;
  if (url.charCodeAt(0) === 47) return new Request(`http://localhost${url}`, request);
  // "http://" is 7 characters: a host of 4 or more puts the path's "/" at index 11 or later.
  for (let i = 7; i < 11; i++) {
    if (url.charCodeAt(i) === 47) return new Request(`http://localhost${url.slice(i)}`, request);
  }
  return request;
}

export interface RunningServer {
  url: string;
  /** Stops accepting, lets in-flight requests finish, stops the jobs, closes the database. */
  stop(): Promise<void>;
}

export interface ServerIO {
  logger: Logger;
  print: (text: string) => void;
  clock?: Clock;
}

/** The URL to reach a server listening on host:port (a wildcard address is reached on loopback). */
export function serverUrl(host: string, port: number) {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

/**
 * Migrates the database and, on a new one, creates the `default` organization and its first
 * key. Runs once per start, before any worker listens. Returns a function that prints the new
 * key (once the URL is known), or null when the database already had an organization.
 */
export async function prepareDatabase(config: ServeConfig, io: ServerIO) {
  const sqlite = openDatabase(config.db, { durability: config.durability });
  try {
    const applied = migrate(sqlite);
    if (applied.length > 0) io.logger.info("applied migrations", { migrations: applied });
    const first = await bootstrap(createSqliteStore(sqlite), (io.clock ?? Date.now)(), config.bootstrapKey);
    return (
      first &&
      ((url: string) => {
        io.print(`Created organization "default" (${first.orgId}) with its first API key, shown this once:\n\n  ${first.key}\n\n`);
        io.print(`Try it:\n  curl -H "Authorization: Bearer ${first.key}" ${url}/api/v1/datastore\n`);
      })
    );
  } finally {
    sqlite.close();
  }
}

/**
 * Listens with the API on an already prepared database. `worker` is this process's index
 * when several share the port; only worker 0 (or a lone server) runs the expiry sweep.
 */
export async function listen(config: ServeConfig, io: ServerIO, worker: number | null = null): Promise<RunningServer> {
  const { logger } = io;
  const clock = io.clock ?? Date.now;
  const sqlite = openDatabase(config.db, { busyTimeoutMs: SERVER_BUSY_TIMEOUT_MS, durability: config.durability });
  const store = createSqliteStore(sqlite);
  const authenticator = createAuthenticator({ store, clock, dev: config.dev, logger });
  const rateLimiter = config.rateLimit && createRateLimiter(config.rateLimit);
  const app = createApp({ store, authenticator, clock, logger, rateLimiter });
  // Read once: Elysia's `fetch` getter compiles the request handler each time it is read.
  const handle = app.fetch;

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.host,
      port: config.port,
      reusePort: worker !== null,
      idleTimeout: IDLE_TIMEOUT_SECONDS,
      // Bun's own limit would answer an empty, non-JSON 413 before the app sees the request;
      // the app refuses bodies over 1 MiB itself (src/body.ts) without reading them whole.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: (request) => handle(routable(request)),
      // The last resort if anything escapes Elysia's own error handling.
      error(error) {
        logger.error("unhandled server error", { error: String(error) });
        return jsonResponse(ERRORS.internal.status, { error: ERRORS.internal.message });
      },
    });
  } catch (error) {
    sqlite.close();
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  }
  const url = serverUrl(config.host, server.port!);
  const stopJobs = startBackgroundJobs({ store, authenticator, clock, logger, sweep: worker === null || worker === 0 });
  logger.info("listening", { url, db: config.db, version: VERSION, durability: config.durability, ...(worker !== null && { worker }) });

  return {
    url,
    async stop() {
      await server.stop();
      await stopJobs();
      await store.close();
    },
  };
}

/** A lone server: prepare the database, then listen. */
export async function startServer(config: ServeConfig, io: ServerIO): Promise<RunningServer> {
  const printFirstKey = await prepareDatabase(config, io);
  warnAboutDevMode(config, io.logger);
  const server = await listen(config, io);
  printFirstKey?.(server.url);
  return server;
}

export function warnAboutDevMode(config: ServeConfig, logger: Logger) {
  if (!config.dev) return;
  logger.info("dev mode: any bearer token starting with hklst_ is accepted");
  if (!isLoopback(config.host)) logger.warn(`dev mode on ${config.host}: anyone who can reach this address can read and write data`);
}
