import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export const MEMORY = ":memory:";

export interface OpenOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) a SQLite database with the pragmas the store relies on:
 * WAL (readers never block the writer), synchronous=NORMAL (a committed write survives a
 * process crash; see README "Durability"), a busy timeout, and foreign keys.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  if (path !== MEMORY) mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  sqlite.run("PRAGMA journal_mode = WAL");
  sqlite.run("PRAGMA synchronous = NORMAL");
  sqlite.run("PRAGMA foreign_keys = ON");
  return sqlite;
}
