import { createApp } from "./app";
import { createAuthenticator, type Clock } from "./auth";
import { startBackgroundJobs } from "./background";
import { bootstrap } from "./bootstrap";
import { isLoopback, type ServeConfig } from "./config";
import { openDatabase } from "./db/client";
import { migrate } from "./db/migrate";
import { jsonResponse, ERRORS } from "./errors";
import type { Logger } from "./log";
import { createSqliteStore } from "./store/sqlite";
import { VERSION } from "./version";

export interface RunningServer {
  url: string;
  /** Stops accepting, lets in-flight requests finish, stops the jobs, closes the database. */
  stop(): Promise<void>;
}

/** Opens and migrates the database, bootstraps a new one, and listens. */
export async function startServer(
  config: ServeConfig,
  io: { logger: Logger; print: (line: string) => void; clock?: Clock },
): Promise<RunningServer> {
  const { logger, print } = io;
  const clock = io.clock ?? Date.now;
  const sqlite = openDatabase(config.db);
  const applied = migrate(sqlite);
  if (applied.length > 0) logger.info("applied migrations", { migrations: applied });
  const store = createSqliteStore(sqlite);

  const authenticator = createAuthenticator({ store, clock, dev: config.dev, logger });
  const app = createApp({ store, authenticator, clock, logger });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
    hostname: config.host,
    port: config.port,
    fetch: app.fetch,
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
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;

  const first = await bootstrap(store, clock(), config.bootstrapKey);
  if (first) {
    print(`Created organization "default" (${first.orgId}) with its first API key, shown this once:\n`);
    print(`  ${first.key}\n`);
    print(`Try it:\n  curl -H "Authorization: Bearer ${first.key}" ${url}/api/v1/datastore\n`);
  }
  if (config.dev) {
    logger.info("dev mode: any bearer token starting with hklst_ is accepted");
    if (!isLoopback(config.host)) {
      logger.warn(`dev mode on ${config.host}: anyone who can reach this address can read and write data`);
    }
  }
  const stopJobs = startBackgroundJobs({ store, authenticator, clock, logger });
  logger.info("listening", { url, db: config.db, version: VERSION });

  return {
    url,
    async stop() {
      await server.stop();
      await stopJobs();
      await store.close();
    },
  };
}
