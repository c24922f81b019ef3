import type { Database } from "bun:sqlite";
import type { EntryRecord, ListQuery, Page } from "../types";
import { countLiveSql, ENTRY_COLUMNS, LIVE, toSeconds } from "./time";

// Keys and namespaces are ASCII from `A-Za-z0-9_.:/-` (SPEC §1): every one sorts below DEL.
const ABOVE_EVERY_KEY = "\x7f";

/**
 * The first string after every string that starts with `prefix`, in binary order. Keys are
 * ASCII (SPEC §1), so bumping the last character never leaves the key alphabet's byte range.
 */
export function prefixUpperBound(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

type RangeParams = { org: string; ns: string; lo: string; hi: string; now: number };

/**
 * Listings read only ranges of the unique index (organization, namespace, key): one range per
 * namespace, `key >= prefix AND key < successor(prefix)` (never LIKE, which is case-insensitive
 * and has wildcards). Without a namespace filter the organization's namespaces are found by a
 * skip-scan (one index seek each) and their ranges read in order, so no listing ever walks the
 * keys outside its prefix.
 */
export function createListing(sqlite: Database) {
  const range = "organization_id = $org AND namespace = $ns AND key >= $lo AND key < $hi";
  const countRange = sqlite.query<{ n: number }, RangeParams>(countLiveSql(range));
  const pageRange = sqlite.query<EntryRecord, RangeParams & { limit: number; offset: number }>(
    `SELECT ${ENTRY_COLUMNS} FROM entries WHERE ${range} AND ${LIVE} ORDER BY key LIMIT $limit OFFSET $offset`,
  );
  // Every namespace with a row (live or not), ascending.
  const allNamespaces = sqlite.query<{ name: string }, { org: string }>(
    `WITH RECURSIVE ns(name) AS (
       SELECT min(namespace) FROM entries WHERE organization_id = $org
       UNION ALL
       SELECT (SELECT min(namespace) FROM entries WHERE organization_id = $org AND namespace > name) FROM ns WHERE name IS NOT NULL)
     SELECT name FROM ns WHERE name IS NOT NULL`,
  );
  const hasLive = sqlite.query<{ one: number }, { org: string; ns: string; now: number }>(
    `SELECT 1 AS one FROM entries WHERE organization_id = $org AND namespace = $ns AND ${LIVE} LIMIT 1`,
  );

  const namespacesOf = (org: string) => allNamespaces.all({ org }).map((row) => row.name);

  // Counts and pages are read in one transaction so they agree with each other.
  const list = sqlite.transaction((org: string, query: ListQuery, now: number): Page => {
    const lo = query.prefix ?? "";
    const hi = query.prefix ? prefixUpperBound(query.prefix) : ABOVE_EVERY_KEY;
    const params = { org, lo, hi, now: toSeconds(now) };
    const entries: EntryRecord[] = [];
    let totalCount = 0;
    let skip = query.offset;
    for (const ns of query.namespace ? [query.namespace] : namespacesOf(org)) {
      const count = countRange.get({ ...params, ns })!.n;
      totalCount += count;
      if (skip >= count) {
        skip -= count;
        continue;
      }
      const wanted = query.limit - entries.length;
      if (wanted > 0) entries.push(...pageRange.all({ ...params, ns, limit: wanted, offset: skip }));
      skip = 0;
    }
    return { entries, totalCount };
  });

  return {
    list,
    namespaces: sqlite.transaction((org: string, now: number) =>
      namespacesOf(org).filter((ns) => hasLive.get({ org, ns, now: toSeconds(now) }) !== null),
    ),
  };
}
