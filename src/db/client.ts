import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Durability } from "../config";

export const MEMORY = ":memory:";

export interface OpenOptions {
  /** How long SQLite itself waits for another process's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  durability?: Durability;
}

/**
 * Opens (creating if needed) a SQLite database with the pragmas the store relies on: WAL
 * (readers never block the writer), a busy timeout, foreign keys, and the durability mode:
 * synchronous=NORMAL (a committed write survives a process crash; the last commits may be
 * lost on power loss) or FULL (the WAL is fsynced at every commit: survives power loss).
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  if (path !== MEMORY) mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  sqlite.run("PRAGMA journal_mode = WAL");
  sqlite.run(`PRAGMA synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
  sqlite.run("PRAGMA foreign_keys = ON");
  // 16 MiB of page cache (SQLite's default is 2 MiB): the upper levels of the indexes and the
  // hot rows stay in memory; measured 3.7 -> 2.5 us per random point read on a 12 MB file.
  sqlite.run("PRAGMA cache_size = -16384");
  // Checkpoint the WAL back into the file every 8,000 pages (32 MiB) instead of SQLite's 1,000:
  // pages rewritten between checkpoints are copied back once, and checkpoints (which fsync)
  // come 8x less often. Measured +20% PUT/s with random upserts of 1 KB values.
  sqlite.run("PRAGMA wal_autocheckpoint = 8000");
  return sqlite;
}
