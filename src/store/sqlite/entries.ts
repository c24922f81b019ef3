import type { Database } from "bun:sqlite";
import { newEntryId } from "../../ids";
import type { EntryRecord, EntryWrite, Store, UpsertResult } from "../types";
import { createListing } from "./listing";
import { countLiveSql, ENTRY_COLUMNS, LIVE, toSeconds } from "./time";
import { createWriteQueue, type WriteQueueOptions } from "./write-queue";

type EntryStore = Pick<Store, "getEntry" | "listEntries" | "listNamespaces" | "upsertEntry" | "deleteEntry" | "purgeExpired">;

type Locator = { org: string; ns: string; key: string };

export function createEntryStore(sqlite: Database, queueOptions: WriteQueueOptions): EntryStore {
  const where = "organization_id = $org AND namespace = $ns AND key = $key";
  const selectLive = sqlite.query<EntryRecord, Locator & { now: number }>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE ${where} AND ${LIVE}`);
  const selectForWrite = sqlite.query<{ rowid: number; id: string; createdAt: number; expiresAt: number | null }, Locator>(
    `SELECT rowid, id, created_at AS createdAt, expires_at AS expiresAt FROM entries WHERE ${where}`,
  );
  const countLive = sqlite.query<{ n: number }, { org: string; now: number }>(countLiveSql("organization_id = $org"));
  type Row = Locator & { id: string; value: string; description: string | null; expiresAt: number | null; createdAt: number; now: number };
  // RETURNING statements are read with .all(): .get() leaves them (and their write) open.
  const insert = sqlite.query<EntryRecord, Row>(
    `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at)
     VALUES ($id, $org, $ns, $key, $value, $description, $expiresAt, $createdAt, $now) RETURNING ${ENTRY_COLUMNS}`,
  );
  const replace = sqlite.query<EntryRecord, Omit<Row, keyof Locator> & { rowid: number }>(
    `UPDATE entries SET id = $id, value = $value, description = $description, expires_at = $expiresAt,
       created_at = $createdAt, updated_at = $now WHERE rowid = $rowid RETURNING ${ENTRY_COLUMNS}`,
  );
  const removeLive = sqlite.query<EntryRecord, Locator & { now: number }>(`DELETE FROM entries WHERE ${where} AND ${LIVE} RETURNING ${ENTRY_COLUMNS}`);
  const purge = sqlite.query<null, { now: number; batch: number }>(
    "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries WHERE expires_at <= $now LIMIT $batch)",
  );
  const listing = createListing(sqlite);
  const writes = createWriteQueue(sqlite, queueOptions);

  // Runs inside the queue's write transaction, which holds the database's write lock: the
  // check (live entry? room under the limit?) and the write cannot interleave with any other
  // writer, in this process or another sharing the file.
  function upsert(org: string, write: EntryWrite, limit: number | null, nowMs: number): UpsertResult {
    const now = toSeconds(nowMs);
    const locator = { org, ns: write.namespace, key: write.key };
    const existing = selectForWrite.get(locator);
    const live = existing !== null && (existing.expiresAt === null || existing.expiresAt > now);
    if (!live && limit !== null && countLive.get({ org, now })!.n >= limit) return { ok: false, limit };
    const fields = {
      // A live entry keeps its id and created_at; an expired row at the key is a new entry.
      id: live ? existing.id : newEntryId(),
      createdAt: live ? existing.createdAt : now,
      value: write.value,
      description: write.description,
      expiresAt: write.ttlSeconds === null ? null : Math.ceil((nowMs + write.ttlSeconds * 1000) / 1000),
      now,
    };
    const rows = existing ? replace.all({ ...fields, rowid: existing.rowid }) : insert.all({ ...locator, ...fields });
    return { ok: true, entry: rows[0]! };
  }

  return {
    async getEntry(org, ns, key, now) {
      return selectLive.get({ org, ns, key, now: toSeconds(now) });
    },
    async listEntries(org, query, now) {
      return listing.list(org, query, now);
    },
    async listNamespaces(org, now) {
      return listing.namespaces(org, now);
    },
    upsertEntry(org, write, limit, now) {
      return writes.enqueue(() => upsert(org, write, limit, now));
    },
    deleteEntry(org, ns, key, now) {
      return writes.enqueue(() => removeLive.all({ org, ns, key, now: toSeconds(now) })[0] ?? null);
    },
    async purgeExpired(now, batch) {
      return purge.run({ now: toSeconds(now), batch }).changes;
    },
  };
}
