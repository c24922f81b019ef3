import type { Database } from "bun:sqlite";
import { newEntryId } from "../../ids";
import type { EntryRecord, EntryWrite, ListQuery, Page, Store, UpsertResult } from "../types";
import { LIVE, toSeconds } from "./time";

const COLUMNS =
  "id, namespace, key, value, description, expires_at AS expiresAt, created_at AS createdAt, updated_at AS updatedAt";

/**
 * The first string after every string that starts with `prefix`, in binary order. Keys are
 * ASCII (SPEC §1), so bumping the last character never leaves the key alphabet's byte range.
 */
export function prefixUpperBound(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** WHERE clause and parameters for a listing: one index range, never LIKE. */
function listFilter(orgId: string, query: ListQuery, nowSec: number) {
  let where = "organization_id = ?";
  const params: (string | number)[] = [orgId];
  if (query.namespace) {
    where += " AND namespace = ?";
    params.push(query.namespace);
  }
  if (query.prefix) {
    where += " AND key >= ? AND key < ?";
    params.push(query.prefix, prefixUpperBound(query.prefix));
  }
  where += ` AND ${LIVE}`;
  params.push(nowSec);
  return { where, params };
}

type EntryStore = Pick<
  Store,
  "getEntry" | "listEntries" | "listNamespaces" | "upsertEntry" | "deleteEntry" | "purgeExpired"
>;

export function createEntryStore(sqlite: Database): EntryStore {
  const selectLive = sqlite.query<EntryRecord, [string, string, string, number]>(
    `SELECT ${COLUMNS} FROM entries WHERE organization_id = ? AND namespace = ? AND key = ? AND ${LIVE}`,
  );
  const selectForWrite = sqlite.query<
    { rowid: number; id: string; createdAt: number; expiresAt: number | null },
    [string, string, string]
  >(
    "SELECT rowid, id, created_at AS createdAt, expires_at AS expiresAt FROM entries WHERE organization_id = ? AND namespace = ? AND key = ?",
  );
  const countLive = sqlite.query<{ n: number }, [string, number]>(
    `SELECT count(*) AS n FROM entries WHERE organization_id = ? AND ${LIVE}`,
  );
  const insert = sqlite.query<EntryRecord, [string, string, string, string, string, string | null, number | null, number, number]>(
    `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
  );
  const replace = sqlite.query<EntryRecord, [string, string, string | null, number | null, number, number, number]>(
    `UPDATE entries SET id = ?, value = ?, description = ?, expires_at = ?, created_at = ?, updated_at = ?
     WHERE rowid = ? RETURNING ${COLUMNS}`,
  );
  const removeLive = sqlite.query<EntryRecord, [string, string, string, number]>(
    `DELETE FROM entries WHERE organization_id = ? AND namespace = ? AND key = ? AND ${LIVE} RETURNING ${COLUMNS}`,
  );
  const namespaces = sqlite.query<{ namespace: string }, [string, number]>(
    `SELECT DISTINCT namespace FROM entries WHERE organization_id = ? AND ${LIVE} ORDER BY namespace`,
  );
  const purge = sqlite.query<null, [number, number]>(
    "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries WHERE expires_at <= ? LIMIT ?)",
  );

  // Check-then-write under one write lock taken up front (BEGIN IMMEDIATE), so the entry
  // limit and the one-entry-per-key rule hold against every other writer, in this process or
  // another sharing the file. RETURNING statements use .all(): .get() leaves them open.
  const upsert = sqlite.transaction((orgId: string, write: EntryWrite, limit: number | null, now: number): UpsertResult => {
    const nowSec = toSeconds(now);
    const expiresAt = write.ttlSeconds === null ? null : Math.ceil((now + write.ttlSeconds * 1000) / 1000);
    const existing = selectForWrite.get(orgId, write.namespace, write.key);
    const live = existing !== null && (existing.expiresAt === null || existing.expiresAt > nowSec);
    if (!live && limit !== null && countLive.get(orgId, nowSec)!.n >= limit) return { ok: false, limit };
    const [id, createdAt] = live ? [existing.id, existing.createdAt] : [newEntryId(), nowSec];
    const rows = existing
      ? replace.all(id, write.value, write.description, expiresAt, createdAt, nowSec, existing.rowid)
      : insert.all(id, orgId, write.namespace, write.key, write.value, write.description, expiresAt, createdAt, nowSec);
    return { ok: true, entry: rows[0]! };
  });

  // The count and the page are read in one transaction so they agree with each other.
  const list = sqlite.transaction((orgId: string, query: ListQuery, now: number): Page => {
    const { where, params } = listFilter(orgId, query, toSeconds(now));
    const totalCount = sqlite
      .query<{ n: number }, (string | number)[]>(`SELECT count(*) AS n FROM entries WHERE ${where}`)
      .get(...params)!.n;
    if (query.offset >= totalCount) return { entries: [], totalCount };
    const entries = sqlite
      .query<EntryRecord, (string | number)[]>(
        `SELECT ${COLUMNS} FROM entries WHERE ${where} ORDER BY namespace, key LIMIT ? OFFSET ?`,
      )
      .all(...params, query.limit, query.offset);
    return { entries, totalCount };
  });

  return {
    async getEntry(orgId, namespace, key, now) {
      return selectLive.get(orgId, namespace, key, toSeconds(now));
    },

    async listEntries(orgId, query, now) {
      return list(orgId, query, now);
    },

    async listNamespaces(orgId, now) {
      return namespaces.all(orgId, toSeconds(now)).map((row) => row.namespace);
    },

    async upsertEntry(orgId, write, limit, now) {
      return upsert.immediate(orgId, write, limit, now);
    },

    async deleteEntry(orgId, namespace, key, now) {
      return removeLive.all(orgId, namespace, key, toSeconds(now))[0] ?? null;
    },

    async purgeExpired(now, batchSize) {
      return purge.run(toSeconds(now), batchSize).changes;
    },
  };
}
