import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate as drizzleMigrate } from "drizzle-orm/bun-sqlite/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { is } from "drizzle-orm";
import { getTableConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import { MEMORY, openDatabase } from "../src/db/client";
import { embeddedMigrations, migrate, NewerDatabaseError } from "../src/db/migrate";
import { migrationFiles, migrationJournal } from "../src/db/migrations";
import * as schema from "../src/db/schema";
import { ROOT, tempDir } from "./process-helpers";

const DRIZZLE = join(ROOT, "drizzle");
const journal: { entries: { tag: string; when: number }[] } = JSON.parse(readFileSync(join(DRIZZLE, "meta/_journal.json"), "utf8"));
/** Every table declared in src/db/schema.ts. */
const TABLES: SQLiteTable[] = Object.values(schema as Record<string, unknown>).filter((value): value is SQLiteTable => is(value, SQLiteTable));

let dir: string;
let cleanup: () => void;
let open: Database[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir("datastore-migrate-"));
});
afterEach(() => {
  for (const sqlite of open) sqlite.close();
  open = [];
  cleanup();
});

/** A migrated in-memory database, closed after the test. */
function migrated(): Database {
  const sqlite = openDatabase(MEMORY);
  open.push(sqlite);
  migrate(sqlite);
  return sqlite;
}

const recordedHashes = (sqlite: Database) =>
  sqlite.query<{ hash: string }, []>(`SELECT hash FROM "__drizzle_migrations" ORDER BY id`).all().map((row) => row.hash);

describe("embedded migrations", () => {
  test("every journal entry has its SQL embedded, identical to the file drizzle-kit wrote", () => {
    expect(journal.entries.length).toBeGreaterThan(0);
    for (const { tag } of journal.entries) {
      expect(migrationFiles[tag]).toBe(readFileSync(join(DRIZZLE, `${tag}.sql`), "utf8"));
    }
  });

  test("every .sql file in drizzle/ is in the journal and embedded (none forgotten, none extra)", () => {
    const files = readdirSync(DRIZZLE).filter((name) => name.endsWith(".sql")).map((name) => name.slice(0, -4)).sort();
    expect(files).toEqual(journal.entries.map((entry) => entry.tag).sort());
    expect(Object.keys(migrationFiles).sort()).toEqual(files);
  });

  test("the embedded journal is drizzle/meta/_journal.json, in order", () => {
    expect(migrationJournal.entries.map(({ tag, when }) => ({ tag, when }))).toEqual(journal.entries.map(({ tag, when }) => ({ tag, when })));
  });

  test("hashes and created_at match what drizzle's own migrator computes from the folder", () => {
    const drizzleView = readMigrationFiles({ migrationsFolder: DRIZZLE });
    expect(embeddedMigrations().map(({ hash, when }) => ({ hash, when }))).toEqual(
      drizzleView.map(({ hash, folderMillis }) => ({ hash, when: folderMillis })),
    );
  });
});

describe("migrate", () => {
  test("applies every migration to a new database and records each once", () => {
    const sqlite = openDatabase(MEMORY);
    open.push(sqlite);
    expect(migrate(sqlite)).toEqual(journal.entries.map((entry) => entry.tag));
    expect(recordedHashes(sqlite)).toEqual(embeddedMigrations().map((m) => m.hash));
  });

  test("a second run applies nothing and records nothing more", () => {
    const sqlite = migrated();
    const before = recordedHashes(sqlite);
    expect(migrate(sqlite)).toEqual([]);
    expect(recordedHashes(sqlite)).toEqual(before);
  });

  test("a file database keeps its migrations across reopening", () => {
    const path = join(dir, "ds.db");
    const first = openDatabase(path);
    expect(migrate(first)).toHaveLength(journal.entries.length);
    first.close();
    const second = openDatabase(path);
    open.push(second);
    expect(migrate(second)).toEqual([]);
  });

  test("a database migrated by drizzle's own migrator counts as up to date", () => {
    const sqlite = openDatabase(MEMORY);
    open.push(sqlite);
    drizzleMigrate(drizzle({ client: sqlite }), { migrationsFolder: DRIZZLE });
    expect(migrate(sqlite)).toEqual([]);
  });

  test("applies only the migrations that are missing", () => {
    const all = embeddedMigrations();
    const extra = { tag: "9999_test_extra", when: all.at(-1)!.when + 1, hash: "test-extra-hash", statements: ["CREATE TABLE extra_test (id integer)"] };
    const sqlite = migrated();
    expect(migrate(sqlite, [...all, extra])).toEqual(["9999_test_extra"]);
    expect(sqlite.query(`SELECT name FROM sqlite_master WHERE name = 'extra_test'`).all()).toHaveLength(1);
    expect(migrate(sqlite, [...all, extra])).toEqual([]);
  });

  test("a migration that fails leaves no part of itself behind and is not recorded", () => {
    const all = embeddedMigrations();
    const broken = { tag: "9999_broken", when: 1, hash: "broken-hash", statements: ["CREATE TABLE half_done (id integer)", "THIS IS NOT SQL"] };
    const sqlite = migrated();
    expect(() => migrate(sqlite, [...all, broken])).toThrow();
    expect(sqlite.query(`SELECT name FROM sqlite_master WHERE name = 'half_done'`).all()).toEqual([]);
    expect(recordedHashes(sqlite)).toEqual(all.map((m) => m.hash));
  });
});

describe("schema after migrating", () => {
  test("has exactly the tables of src/db/schema.ts plus drizzle's bookkeeping", () => {
    const tables = migrated()
      .query<{ name: string }, []>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`)
      .all()
      .map((row) => row.name);
    expect(tables).toEqual(["__drizzle_migrations", ...TABLES.map((table) => getTableConfig(table).name)].sort());
  });

  test.each(TABLES.map((table) => [getTableConfig(table).name, table] as const))("table %s has the schema's columns, types, NOT NULL and primary key", (name, table) => {
    const config = getTableConfig(table);
    const actual = migrated()
      .query<{ name: string; type: string; notnull: number; pk: number }, []>(`PRAGMA table_info("${name}")`)
      .all()
      .map((column) => ({ name: column.name, type: column.type.toLowerCase(), notNull: column.notnull === 1, primary: column.pk > 0 }));
    const expected = config.columns.map((column) => ({ name: column.name, type: column.getSQLType(), notNull: column.notNull, primary: column.primary }));
    expect(actual).toEqual(expected);
  });

  test.each(TABLES.map((table) => [getTableConfig(table).name, table] as const))("table %s has the schema's indexes and unique columns", (name, table) => {
    const config = getTableConfig(table);
    const sqlite = migrated();
    const indexes = sqlite
      .query<{ name: string; unique: number; partial: number }, []>(`PRAGMA index_list("${name}")`)
      .all()
      .filter((index) => !index.name.startsWith("sqlite_autoindex_"))
      .map((index) => ({
        name: index.name,
        unique: index.unique === 1,
        partial: index.partial === 1,
        columns: sqlite.query<{ name: string }, []>(`PRAGMA index_info("${index.name}")`).all().map((column) => column.name),
      }));
    const expected = [
      ...config.indexes.map((index) => ({
        name: index.config.name,
        unique: index.config.unique,
        partial: index.config.where !== undefined,
        columns: index.config.columns.map((column) => (column as { name: string }).name),
      })),
      ...config.columns
        .filter((column) => column.isUnique)
        .map((column) => ({ name: column.uniqueName!, unique: true, partial: false, columns: [column.name] })),
    ];
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(indexes.sort(byName)).toEqual(expected.sort(byName));
  });

  test.each(TABLES.map((table) => [getTableConfig(table).name, table] as const))("table %s has the schema's foreign keys and their ON DELETE", (name, table) => {
    const config = getTableConfig(table);
    const actual = migrated()
      .query<{ table: string; from: string; to: string; on_delete: string }, []>(`PRAGMA foreign_key_list("${name}")`)
      .all()
      .map((fk) => ({ table: fk.table, from: fk.from, to: fk.to, onDelete: fk.on_delete.toLowerCase() }));
    const expected = config.foreignKeys.map((fk) => {
      const reference = fk.reference();
      return {
        table: getTableConfig(reference.foreignTable).name,
        from: reference.columns[0]!.name,
        to: reference.foreignColumns[0]!.name,
        onDelete: fk.onDelete ?? "no action",
      };
    });
    expect(actual).toEqual(expected);
  });

  test("the expiry index only covers rows that expire", () => {
    const row = migrated().query<{ sql: string }, []>(`SELECT sql FROM sqlite_master WHERE name = 'entries_expires_at_idx'`).get();
    expect(row?.sql).toMatch(/WHERE\s+"entries"\."expires_at" IS NOT NULL/i);
  });

  test("prefix listing by namespace is served by the unique index (no table scan)", () => {
    const plan = migrated()
      .query<{ detail: string }, []>(
        `EXPLAIN QUERY PLAN SELECT * FROM entries WHERE organization_id = 'org_a' AND namespace = 'default' AND key >= 'app:' AND key < 'app;'`,
      )
      .all()
      .map((row) => row.detail)
      .join("\n");
    expect(plan).toContain("entries_org_namespace_key_idx");
    expect(plan).not.toMatch(/^SCAN entries$/m);
  });
});

describe("a database from a newer release", () => {
  test("migrate refuses it with NewerDatabaseError", () => {
    const sqlite = migrated();
    sqlite.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`, ["a".repeat(64), 4102444800000]);
    expect(() => migrate(sqlite)).toThrow(NewerDatabaseError);
  });

  test("the refusal says to upgrade and changes nothing", () => {
    const path = join(dir, "ds.db");
    const writer = openDatabase(path);
    migrate(writer);
    writer.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`, ["b".repeat(64), 4102444800000]);
    writer.close();

    const sqlite = openDatabase(path);
    open.push(sqlite);
    const before = recordedHashes(sqlite);
    let error: unknown;
    try {
      migrate(sqlite);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NewerDatabaseError);
    expect((error as Error).message).toContain("newer release");
    expect((error as Error).message).toContain("upgrade");
    expect(recordedHashes(sqlite)).toEqual(before);
  });

  test("an unknown hash is refused even on a database whose tables are otherwise missing", () => {
    const sqlite = openDatabase(MEMORY);
    open.push(sqlite);
    sqlite.run(`CREATE TABLE "__drizzle_migrations" (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)`);
    sqlite.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES ('c', 1)`);
    expect(() => migrate(sqlite)).toThrow(NewerDatabaseError);
    expect(sqlite.query(`SELECT name FROM sqlite_master WHERE name = 'entries'`).all()).toEqual([]);
  });
});

describe("openDatabase", () => {
  test("a file database uses WAL, a busy timeout and foreign keys", () => {
    const sqlite = openDatabase(join(dir, "nested", "ds.db"));
    open.push(sqlite);
    expect(sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    expect(sqlite.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()!.timeout).toBeGreaterThan(0);
    expect(sqlite.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()!.foreign_keys).toBe(1);
  });

  test("foreign keys are enforced: an entry for an unknown organization is refused", () => {
    const sqlite = migrated();
    expect(() =>
      sqlite.run(`INSERT INTO entries (id, organization_id, namespace, key, value, created_at, updated_at) VALUES ('ds_x', 'org_missing', 'default', 'k', '1', 0, 0)`),
    ).toThrow(/FOREIGN KEY/i);
  });
});
