import type { Command } from "commander";
import { loadServeConfig, MAX_WORKERS, type ServeConfig, type ServeFlags } from "../config";
import { createLogger, type Logger } from "../log";
import { listen, prepareDatabase, serverUrl, startServer, warnAboutDevMode } from "../server";
import { superviseWorkers, WORKER_INDEX_ENV } from "../workers";
import type { CliIO } from "./io";

/**
 * Catches SIGINT/SIGTERM from the moment it is called, so a signal that arrives while the
 * server is still starting is not lost (or fatal). `whenStopped(stop)` resolves after the
 * first signal, once `stop` has run.
 */
function shutdownOnSignal(logger: Logger) {
  const signalled = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  return async function whenStopped(stop: () => Promise<void>) {
    const signal = await signalled;
    logger.info("shutting down", { signal });
    await stop().catch((error) => logger.error("unclean shutdown", { error: String(error) }));
  };
}

/** The serve command line that gives a worker this exact configuration. */
function workerArgs(config: ServeConfig): string[] {
  const args = ["serve", "--host", config.host, "--port", String(config.port), "--db", config.db];
  args.push("--durability", config.durability, "--workers", String(config.workers));
  if (config.dev) args.push("--dev");
  if (config.rateLimit) args.push("--rate-limit", String(config.rateLimit.perSecond), "--rate-limit-burst", String(config.rateLimit.burst));
  return args;
}

/** A worker whose supervisor died (SIGKILL, say) stops itself instead of serving on, orphaned. */
function exitWithParent(logger: Logger) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    logger.warn("supervisor gone; stopping");
    process.kill(process.pid, "SIGTERM");
  }, 1000).unref();
}

export function registerServe(program: Command, io: CliIO) {
  program
    .command("serve")
    .description("start the HTTP API")
    .option("--host <host>", "address to listen on (HOST; default 127.0.0.1)")
    .option("--port <port>", "port to listen on (PORT; default 8080)")
    .option("--db <file>", "SQLite database file (DATASTORE_DB; default ./data/datastore.db)")
    .option("--dev", "local mock of the hosted API: any hklst_ token works (DATASTORE_DEV)")
    .option("--durability <mode>", "normal (survives a crash) or full (also power loss) (DATASTORE_DURABILITY)")
    .option("--workers <n>", `server processes sharing the port, 1-${MAX_WORKERS} (DATASTORE_WORKERS; default 1)`)
    .option("--rate-limit <n>", "requests per second per API key; off by default (DATASTORE_RATE_LIMIT)")
    .option("--rate-limit-burst <n>", "requests a key may send at once (DATASTORE_RATE_LIMIT_BURST; default 2x the rate)")
    .action(async (flags: ServeFlags) => {
      const config = loadServeConfig(flags, io.env);
      const logger = createLogger(config.logLevel, io.stderr);
      // SIGINT/SIGTERM: stop accepting, finish in-flight requests, close the database cleanly.
      const whenStopped = shutdownOnSignal(logger);
      const worker = io.env[WORKER_INDEX_ENV];
      if (worker !== undefined) {
        const server = await listen(config, { logger, print: io.stdout }, Number(worker));
        exitWithParent(logger);
        await whenStopped(server.stop);
      } else if (config.workers === 1) {
        const server = await startServer(config, { logger, print: io.stdout });
        await whenStopped(server.stop);
      } else {
        const printFirstKey = await prepareDatabase(config, { logger, print: io.stdout });
        printFirstKey?.(serverUrl(config.host, config.port));
        warnAboutDevMode(config, logger);
        const workers = superviseWorkers(config.workers, workerArgs(config), io.env, logger);
        await whenStopped(workers.stop);
      }
      logger.info("stopped");
    });
}
