// Fills a fresh database file with N entries through bun:sqlite directly (not HTTP), in the
// layout Datastore itself writes, so both servers can be benchmarked on copies of it.
//
//   bun bench/preload.ts FILE COUNT      prints {"orgId", "token", "count"} as JSON
//
// Key layout (bench/lua/common.lua builds the same keys): entry i, for i in [0, COUNT), is
// `${KINDS[i % 4]}:${pad6(floor(i / 4))}:${SUFFIXES[i % 4]}`, e.g. `user:000123:profile`.
// A list prefix such as `user:0001` therefore matches 100 entries at every database size.
import { rmSync } from "node:fs";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { apiKeyPrefix, hashApiKey, newApiKeyId, newEntryId, newOrganizationId } from "../src/ids";

const KINDS = ["user", "order", "team", "device"];
const SUFFIXES = ["profile", "items", "settings", "state"];
/** Six-digit ids per kind: 4 kinds × 1,000,000 ids. */
const MAX_ENTRIES = 4_000_000;

/** A well-formed API key (`hklst_` + 43 characters); only its SHA-256 is stored. */
export const BENCH_TOKEN = "hklst_benchmarkTokenForTheDatastoreHarness0000";

const ROWS_PER_TRANSACTION = 50_000;
const FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(16);

function entryKey(i: number): string {
  const kind = i % 4;
  return `${KINDS[kind]}:${String(Math.floor(i / 4)).padStart(6, "0")}:${SUFFIXES[kind]}`;
}

/** A JSON object of about 1 KB. */
function entryValue(i: number): string {
  const value = {
    id: i,
    name: `Entry number ${i}`,
    email: `user${i}@example.com`,
    active: i % 3 !== 0,
    tags: ["bench", KINDS[i % 4], `group-${i % 97}`],
    counter: 0,
    note: FILLER.slice(0, 878),
  };
  return JSON.stringify(value);
}

export interface Preloaded {
  orgId: string;
  token: string;
  count: number;
}

export function preload(file: string, count: number): Preloaded {
  if (!Number.isInteger(count) || count < 1 || count > MAX_ENTRIES) throw new Error(`COUNT must be 1-${MAX_ENTRIES}`);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  const sqlite = openDatabase(file);
  migrate(sqlite);
  // A throwaway file: no journal and no fsync while loading, WAL again (as Datastore leaves it) at the end.
  sqlite.run("PRAGMA journal_mode = DELETE");
  sqlite.run("PRAGMA journal_mode = OFF");
  sqlite.run("PRAGMA synchronous = OFF");
  sqlite.run("PRAGMA cache_size = -262144");

  const nowSec = Math.floor(Date.now() / 1000);
  const orgId = newOrganizationId();
  sqlite.run("INSERT INTO organizations (id, name, plan, max_entries, created_at) VALUES (?, 'default', 'scale', NULL, ?)", [orgId, nowSec]);
  sqlite.run(
    "INSERT INTO api_keys (id, organization_id, name, key_hash, key_prefix, created_at) VALUES (?, ?, 'benchmark', ?, ?, ?)",
    [newApiKeyId(), orgId, hashApiKey(BENCH_TOKEN), apiKeyPrefix(BENCH_TOKEN), nowSec],
  );

  const insert = sqlite.prepare(
    `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at)
     VALUES (?, ?, 'default', ?, ?, NULL, NULL, ?, ?)`,
  );
  const insertBatch = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(newEntryId(), orgId, entryKey(i), entryValue(i), nowSec, nowSec);
  });
  for (let from = 0; from < count; from += ROWS_PER_TRANSACTION) insertBatch(from, Math.min(count, from + ROWS_PER_TRANSACTION));

  sqlite.run("PRAGMA journal_mode = WAL");
  sqlite.close();
  return { orgId, token: BENCH_TOKEN, count };
}

if (import.meta.main) {
  const [file, countText] = process.argv.slice(2);
  if (!file || !countText) {
    console.error("usage: bun bench/preload.ts FILE COUNT");
    process.exit(2);
  }
  const started = performance.now();
  const result = preload(file, Number(countText));
  console.error(`preloaded ${result.count} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(JSON.stringify(result));
}
