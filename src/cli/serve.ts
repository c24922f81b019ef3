import type { Command } from "commander";
import { loadServeConfig, type ServeFlags } from "../config";
import { createLogger } from "../log";
import { startServer } from "../server";
import type { CliIO } from "./io";

export function registerServe(program: Command, io: CliIO) {
  program
    .command("serve")
    .description("start the HTTP API")
    .option("--host <host>", "address to listen on (HOST; default 127.0.0.1)")
    .option("--port <port>", "port to listen on (PORT; default 8080)")
    .option("--db <file>", "SQLite database file (DATASTORE_DB; default ./data/datastore.db)")
    .option("--dev", "local mock of the hosted API: any hklst_ token works (DATASTORE_DEV)")
    .action(async (flags: ServeFlags) => {
      const config = loadServeConfig(flags, io.env);
      const logger = createLogger(config.logLevel, io.stderr);
      const server = await startServer(config, { logger, print: io.stdout });
      // Runs until SIGINT/SIGTERM: stop accepting, finish in-flight requests, close cleanly.
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info("shutting down", { signal });
          server.stop().then(resolve, (error) => {
            logger.error("unclean shutdown", { error: String(error) });
            resolve();
          });
        };
        process.once("SIGINT", () => shutdown("SIGINT"));
        process.once("SIGTERM", () => shutdown("SIGTERM"));
      });
      logger.info("stopped");
    });
}
