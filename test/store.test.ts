import type { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SWEEP_BATCH, sweepExpired } from "../src/background";
import { MEMORY, openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { createSqliteStore } from "../src/store/sqlite";
import { prefixUpperBound } from "../src/store/sqlite/listing";
import type { Store } from "../src/store/types";
import { createWorld, T0 } from "./helpers";

const INDEX = "entries_org_namespace_key_idx";
const T0_SECONDS = T0 / 1000;

type Captured = { sql: string; params: unknown[] };

/**
 * A store on a fresh in-memory database whose every statement is recorded with its
 * parameters as it runs, so the tests can EXPLAIN the exact SQL the store sends.
 */
function capturingStore() {
  const sqlite = openDatabase(MEMORY);
  migrate(sqlite);
  const captured: Captured[] = [];
  const query = sqlite.query.bind(sqlite);
  sqlite.query = ((sql: string) => {
    const statement = query(sql);
    return new Proxy(statement, {
      get(target, property) {
        const member = Reflect.get(target, property, target);
        if (typeof member !== "function") return member;
        if (property === "get" || property === "all" || property === "run" || property === "values") {
          return (...params: unknown[]) => {
            captured.push({ sql, params });
            return member.apply(target, params);
          };
        }
        return member.bind(target);
      },
    });
  }) as typeof sqlite.query;
  const store = createSqliteStore(sqlite);
  return { sqlite, store, captured, explain: (run: Captured) => plan(sqlite, run.sql, run.params) };
}

function plan(sqlite: Database, sql: string, params: unknown[]): string[] {
  return sqlite
    .prepare<{ detail: string }, any[]>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(...(params as any[]))
    .map((row) => row.detail);
}

const readsEntries = (sql: string) => /\bFROM\s+entries\b/i.test(sql);

/** Inserts a row straight into the table, bypassing the store. */
function insertRow(
  sqlite: Database,
  row: { orgId: string; namespace?: string; key: string; expiresAt?: number | null; id?: string },
) {
  sqlite
    .prepare(
      `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
    )
    .run(row.id ?? `ds_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`, row.orgId, row.namespace ?? "default", row.key, "1", row.expiresAt ?? null, T0_SECONDS, T0_SECONDS);
}

const countRows = (sqlite: Database) => sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM entries").get()!.n;

const write = (key: string, namespace = "default", ttlSeconds: number | null = null) => ({
  key,
  namespace,
  value: "1",
  description: null,
  ttlSeconds,
});

describe("listing queries use the unique index", () => {
  const RANGE = "(organization_id=? AND namespace=? AND key>? AND key<?)";
  const PAGE = `SEARCH entries USING INDEX ${INDEX} ${RANGE}`;
  // The count reads indexes only: every entry in the range, minus the expired ones.
  const COUNT = [`SEARCH entries USING COVERING INDEX ${INDEX} ${RANGE}`, `SEARCH entries USING COVERING INDEX entries_expiring_idx ${RANGE}`];
  const queries = [
    ["no filter", { namespace: null, prefix: null }],
    ["a namespace", { namespace: "prod", prefix: null }],
    ["a prefix", { namespace: null, prefix: "user:" }],
    ["a namespace and a prefix", { namespace: "prod", prefix: "user:" }],
  ] as const;

  /** Three organizations of 400 rows over four namespaces, a third of them with an expiry. */
  function crowd(sqlite: Database) {
    for (const orgId of ["org_a", "org_b", "org_c"]) {
      sqlite.run("INSERT INTO organizations (id, name, plan, created_at) VALUES (?, ?, 'scale', ?)", [orgId, orgId, T0_SECONDS]);
      sqlite.transaction(() => {
        for (let i = 0; i < 400; i++) insertRow(sqlite, { orgId, namespace: `ns${i % 4}`, key: `user:${i}`, expiresAt: i % 3 ? null : T0_SECONDS + i });
      })();
    }
  }

  /** The plans of every statement a listing sends that reads the entries table. */
  async function listingPlans(options: { crowded: boolean; analyze: boolean }, query: (typeof queries)[number][1]) {
    const { sqlite, store, captured, explain } = capturingStore();
    if (options.crowded) crowd(sqlite);
    if (options.analyze) sqlite.run("ANALYZE");
    const org = await store.createOrganization({ name: "a", plan: "scale", maxEntries: null }, T0);
    await store.upsertEntry(org.id, write("user:1", "prod"), null, T0);
    captured.length = 0;

    const page = await store.listEntries(org.id, { ...query, offset: 0, limit: 50 }, T0);

    expect(page.totalCount).toBe(1);
    const statements = captured.filter((run) => readsEntries(run.sql));
    for (const run of statements) expect(run.sql).not.toMatch(/\bLIKE\b|\bGLOB\b/i);
    return statements.map((run) => explain(run));
  }

  for (const world of [
    { name: "an empty database", crowded: false, analyze: false },
    { name: "many rows of several organizations", crowded: true, analyze: false },
    // An operator may run ANALYZE (or PRAGMA optimize); SQLite must not then pick a skip-scan
    // across every organization for a listing.
    { name: "statistics gathered by ANALYZE", crowded: true, analyze: true },
  ]) {
    for (const [name, query] of queries) {
      test(`reads one index range per namespace for a listing with ${name}, on ${world.name}`, async () => {
        const plans = await listingPlans(world, query);

        // One count and one page, each reading one index range, never a scan or a sort.
        expect(plans.filter((details) => details.includes(PAGE))).toHaveLength(1);
        expect(plans.filter((details) => COUNT.every((step) => details.includes(step)))).toHaveLength(1);
        for (const details of plans) {
          expect(details.filter((d) => /^SCAN entries\b/.test(d) || d.includes("TEMP B-TREE"))).toEqual([]);
          expect(details.every((d) => !d.startsWith("SEARCH entries") || d.includes("organization_id=?"))).toBe(true);
        }
      });
    }
  }

  test("sends no statement that scans the entries table for any datastore operation", async () => {
    const { store, captured, explain } = capturingStore();
    const org = await store.createOrganization({ name: "a", plan: "scale", maxEntries: null }, T0);

    await store.upsertEntry(org.id, write("k", "prod", 60), 100, T0);
    await store.upsertEntry(org.id, write("k", "prod"), 100, T0 + 1000);
    await store.getEntry(org.id, "prod", "k", T0);
    await store.listNamespaces(org.id, T0);
    await store.deleteEntry(org.id, "prod", "k", T0);
    await store.purgeExpired(T0, 500);

    const statements = captured.filter((run) => /\bentries\b/.test(run.sql) && !/^\s*INSERT\b/i.test(run.sql));
    expect(statements.length).toBeGreaterThanOrEqual(5);
    for (const run of statements) {
      const details = explain(run);
      expect({ sql: run.sql, scans: details.filter((d) => /^SCAN entries\b/.test(d)) }).toEqual({ sql: run.sql, scans: [] });
    }
  });

  test("ends a prefix range just after every key that starts with the prefix", () => {
    expect(prefixUpperBound("a")).toBe("b");
    expect(prefixUpperBound("a/")).toBe("a0");
    expect(prefixUpperBound("user:")).toBe("user;");
    expect(prefixUpperBound("az")).toBe("a{");
    expect(prefixUpperBound("a_")).toBe("a`");
  });
});

describe("prefix listing over several organizations", () => {
  test("returns exactly the keys that start with the prefix, in order, and only the caller's", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    const stems = ["user:", "user_", "userx", "User:", "use", "user", "user:1/", "a/b", "a/b/c", "a.b", "a-b", "z", "zz", "team:"];
    const keys = stems.flatMap((stem) => Array.from({ length: 12 }, (_, i) => `${stem}${i}`)).concat(stems);
    const namespaces = ["default", "prod", "Prod"];
    // Both organizations hold the same keys, so a leak shows up as a wrong count.
    for (const orgId of [world.org.id, other.organization.id]) {
      for (const namespace of namespaces) {
        for (const key of keys) await world.store.upsertEntry(orgId, write(key, namespace), null, T0);
      }
    }
    const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

    for (const prefix of ["user:", "user", "user_", "User", "use", "user:1", "user:1/", "a/", "a/b/", "a.", "a-", "z", "zz1", "q", "U", "u"]) {
      for (const namespace of [null, "prod"]) {
        const expected = namespaces
          .filter((ns) => namespace === null || ns === namespace)
          .toSorted(byte)
          .flatMap((ns) => keys.filter((key) => key.startsWith(prefix)).toSorted(byte).map((key) => `${ns}|${key}`));

        const page = await world.store.listEntries(world.org.id, { namespace, prefix, offset: 0, limit: 10_000 }, T0);

        expect({ prefix, namespace, total: page.totalCount, keys: page.entries.map((e) => `${e.namespace}|${e.key}`) }).toEqual({
          prefix,
          namespace,
          total: expected.length,
          keys: expected,
        });
      }
    }
  });

  test("pages a prefix listing through the API with the same keys as one big page", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    const keys = Array.from({ length: 230 }, (_, i) => `item:${String(i).padStart(3, "0")}`);
    for (const key of keys) {
      await world.store.upsertEntry(world.org.id, write(key), null, T0);
      await world.store.upsertEntry(other.organization.id, write(key), null, T0);
      await world.store.upsertEntry(world.org.id, write(`itemz${key}`), null, T0);
    }

    const seen: string[] = [];
    for (let page = 1; page <= 4; page++) {
      const response = await world.list(`?prefix=item:&page_size=100&page=${page}`);
      expect({ page, status: response.status, total_count: response.json.total_count, total_pages: response.json.total_pages }).toEqual({
        page,
        status: 200,
        total_count: 230,
        total_pages: 3,
      });
      seen.push(...response.json.data.map((e: { key: string }) => e.key));
    }

    expect(seen).toEqual(keys);
  });
});

describe("expiry sweep", () => {
  test("deletes expired rows in batches and returns how many it deleted", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    const expired = 2 * SWEEP_BATCH + 3;
    world.sqlite.transaction(() => {
      for (let i = 0; i < expired; i++) {
        insertRow(world.sqlite, { orgId: i % 2 ? world.org.id : other.organization.id, key: `old:${i}`, expiresAt: T0_SECONDS - (i % 7) });
      }
    })();
    const batches: number[] = [];
    const spy: Store = {
      ...world.store,
      purgeExpired: async (now, batchSize) => {
        const deleted = await world.store.purgeExpired(now, batchSize);
        batches.push(deleted);
        return deleted;
      },
    };

    const purged = await sweepExpired(spy, world.clock.now);

    expect(purged).toBe(expired);
    expect(batches).toEqual([SWEEP_BATCH, SWEEP_BATCH, 3]);
    expect(countRows(world.sqlite)).toBe(0);
  });

  test("leaves live rows and rows without expiry untouched", async () => {
    const world = await createWorld();
    await world.put({ key: "forever", value: 1 });
    await world.put({ key: "later", value: 2, ttl_seconds: 120 });
    await world.put({ key: "soon", value: 3, ttl_seconds: 60 });
    const before = world.sqlite.query("SELECT * FROM entries WHERE key IN ('forever', 'later') ORDER BY key").all();

    world.clock.advance(60_000);
    const purged = await sweepExpired(world.store, world.clock.now);

    expect(purged).toBe(1);
    expect(world.sqlite.query("SELECT * FROM entries ORDER BY key").all()).toEqual(before);
    expect((await world.get("forever")).status).toBe(200);
    expect((await world.get("later")).status).toBe(200);
  });

  test("deletes a row at the exact second of its expires_at and keeps one a second later", async () => {
    const world = await createWorld();
    insertRow(world.sqlite, { orgId: world.org.id, key: "now", expiresAt: T0_SECONDS });
    insertRow(world.sqlite, { orgId: world.org.id, key: "next", expiresAt: T0_SECONDS + 1 });

    const purged = await sweepExpired(world.store, world.clock.now);

    expect(purged).toBe(1);
    expect(world.sqlite.query<{ key: string }, []>("SELECT key FROM entries").all()).toEqual([{ key: "next" }]);
  });

  test("returns 0 and deletes nothing when nothing has expired", async () => {
    const world = await createWorld();
    await world.put({ key: "a", value: 1 });
    await world.put({ key: "b", value: 1, ttl_seconds: 10 });

    const purged = await sweepExpired(world.store, world.clock.now);

    expect(purged).toBe(0);
    expect(countRows(world.sqlite)).toBe(2);
  });

  test("changes nothing the API shows", async () => {
    const world = await createWorld();
    await world.put({ key: "a", value: 1 });
    await world.put({ key: "b", value: 1, ttl_seconds: 10 });
    await world.put({ key: "c", value: 1, namespace: "temp", ttl_seconds: 10 });
    world.clock.advance(10_000);
    const listBefore = await world.list();
    const namespacesBefore = await world.request("GET", "/api/v1/datastore/namespaces");

    await sweepExpired(world.store, world.clock.now);

    expect(countRows(world.sqlite)).toBe(1);
    expect((await world.list()).json).toEqual(listBefore.json);
    expect((await world.request("GET", "/api/v1/datastore/namespaces")).json).toEqual(namespacesBefore.json);
  });
});

describe("the unique index", () => {
  test("refuses a second row for the same organization, namespace and key", async () => {
    const world = await createWorld();
    await world.put({ key: "k", namespace: "prod", value: 1 });

    expect(() => insertRow(world.sqlite, { orgId: world.org.id, namespace: "prod", key: "k" })).toThrow(/UNIQUE constraint failed/);
    expect(countRows(world.sqlite)).toBe(1);
  });

  test("allows the same key in another namespace, another organization or another case", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    insertRow(world.sqlite, { orgId: world.org.id, namespace: "prod", key: "k" });

    insertRow(world.sqlite, { orgId: world.org.id, namespace: "staging", key: "k" });
    insertRow(world.sqlite, { orgId: other.organization.id, namespace: "prod", key: "k" });
    insertRow(world.sqlite, { orgId: world.org.id, namespace: "prod", key: "K" });
    insertRow(world.sqlite, { orgId: world.org.id, namespace: "Prod", key: "k" });

    expect(countRows(world.sqlite)).toBe(5);
  });

  test("is the only unique index on entries, over organization, namespace and key with binary collation", async () => {
    const world = await createWorld();

    const unique = world.sqlite
      .query<{ name: string; unique: number }, []>("PRAGMA index_list(entries)")
      .all()
      .filter((index) => index.unique === 1)
      .map((index) => index.name);
    const columns = world.sqlite
      .query<{ name: string | null; coll: string; key: number }, []>(`PRAGMA index_xinfo(${INDEX})`)
      .all()
      .filter((column) => column.key === 1)
      .map((column) => [column.name, column.coll]);

    expect(unique).toEqual([INDEX]);
    expect(columns).toEqual([
      ["organization_id", "BINARY"],
      ["namespace", "BINARY"],
      ["key", "BINARY"],
    ]);
  });

  test("refuses an entry whose organization does not exist", async () => {
    const world = await createWorld();

    expect(() => insertRow(world.sqlite, { orgId: "org_missing", key: "k" })).toThrow(/FOREIGN KEY constraint failed/);
  });
});

describe("database settings", () => {
  test("opens a file database in WAL mode with foreign keys and a busy timeout", () => {
    const folder = mkdtempSync(join(tmpdir(), "datastore-store-test-"));
    try {
      const sqlite = openDatabase(join(folder, "nested", "datastore.db"));
      try {
        expect(sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
        expect(sqlite.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
        expect(sqlite.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()!.timeout).toBeGreaterThan(0);
      } finally {
        sqlite.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("keeps WAL mode when the file database is opened again", () => {
    const folder = mkdtempSync(join(tmpdir(), "datastore-store-test-"));
    try {
      const path = join(folder, "datastore.db");
      openDatabase(path).close();
      const sqlite = openDatabase(path);
      try {
        migrate(sqlite);
        expect(sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
        expect(sqlite.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
      } finally {
        sqlite.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("turns on foreign keys and a busy timeout for the in-memory test database too", async () => {
    const world = await createWorld();

    expect(world.sqlite.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
    expect(world.sqlite.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()!.timeout).toBeGreaterThan(0);
  });

  test("honours a busy timeout given to openDatabase", () => {
    const sqlite = openDatabase(MEMORY, { busyTimeoutMs: 1234 });
    try {
      expect(sqlite.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()).toEqual({ timeout: 1234 });
    } finally {
      sqlite.close();
    }
  });
});
