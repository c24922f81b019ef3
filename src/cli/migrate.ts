import type { Command } from "commander";
import { resolveDbPath } from "../config";
import { openDatabase } from "../db/client";
import { migrate } from "../db/migrate";
import type { CliIO } from "./io";

export function registerMigrate(program: Command, io: CliIO) {
  program
    .command("migrate")
    .description("apply pending database migrations (serve also does this at start)")
    .option("--db <file>", "database file")
    .action((opts: { db?: string }) => {
      const path = resolveDbPath(opts.db, io.env);
      const sqlite = openDatabase(path);
      try {
        const applied = migrate(sqlite);
        io.stdout(applied.length === 0 ? `${path} is up to date\n` : `Applied to ${path}: ${applied.join(", ")}\n`);
      } finally {
        sqlite.close();
      }
    });
}
