// Issue 3, promise 10: upgrades are safe. A database written by the first release (the first
// migration only, filled with plain SQL as that schema allows) opens under this release,
// migrates forward and loses nothing; migrating again changes nothing; a database from a newer
// release is refused with a clear message and left untouched.
//
// The fixture is built here, not committed: no binary files in git.
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { embeddedMigrations, migrate } from "../src/db/migrate";
import { apiKeyPrefix, hashApiKey } from "../src/ids";
import { apiClient, cleanEnv, ENTRY, logLines, randomApiKey, spawnProcess, startServerProcess, tempDir, type RunningProcess } from "./process-helpers";

const TIMEOUT = 60_000;

let dir: string;
let cleanup: () => void;
let db: string;
let children: RunningProcess[] = [];
let open: Database[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir("datastore-upgrade-"));
  db = join(dir, "datastore.db");
});
afterEach(() => {
  for (const child of children) child.kill();
  children = [];
  for (const sqlite of open) sqlite.close();
  open = [];
  cleanup();
});

/** Whole seconds of an ISO time, as the schema stores timestamps. */
const at = (iso: string) => Date.parse(iso) / 1000;
const iso = (seconds: number | null) => (seconds === null ? null : new Date(seconds * 1000).toISOString().replace(".000Z", "Z"));

interface FixtureEntry {
  id: string;
  org: string;
  namespace: string;
  key: string;
  value: unknown;
  description: string | null;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
}

/** What the first release's database holds. Keys are fresh per test: only their hashes are stored. */
function fixtureData() {
  const organizations = [
    { id: "org_Fixture0000Default01", name: "default", plan: "scale", max_entries: null, created_at: at("2026-01-02T03:04:05Z") },
    { id: "org_Fixture0000TeamA0001", name: "team-a", plan: "team", max_entries: 2, created_at: at("2026-01-03T00:00:00Z") },
    { id: "org_Fixture0000FreeB0001", name: "free-b", plan: "free", max_entries: null, created_at: at("2026-01-04T00:00:00Z") },
  ];
  const [main, team, free] = organizations.map((org) => org.id) as [string, string, string];
  const keys = {
    main: randomApiKey(),
    mainRevoked: randomApiKey(),
    team: randomApiKey(),
    free: randomApiKey(),
  };
  const apiKeys = [
    { id: "key_Fixture0000Main00001", organization_id: main, name: "bootstrap", secret: keys.main, created_at: at("2026-01-02T03:04:05Z"), last_used_at: at("2026-02-01T00:00:00Z"), revoked_at: null },
    { id: "key_Fixture0000Revoked01", organization_id: main, name: "old laptop", secret: keys.mainRevoked, created_at: at("2026-01-05T00:00:00Z"), last_used_at: null, revoked_at: at("2026-01-06T00:00:00Z") },
    { id: "key_Fixture0000TeamA0001", organization_id: team, name: "ci", secret: keys.team, created_at: at("2026-01-03T00:00:00Z"), last_used_at: null, revoked_at: null },
    { id: "key_Fixture0000FreeB0001", organization_id: free, name: "trial", secret: keys.free, created_at: at("2026-01-04T00:00:00Z"), last_used_at: null, revoked_at: null },
  ];
  const t1 = at("2026-02-10T08:00:00Z");
  const t2 = at("2026-02-11T09:30:15Z");
  const entry = (org: string, n: number, namespace: string, key: string, value: unknown, extra: Partial<FixtureEntry> = {}): FixtureEntry => ({
    id: `ds_fixture${String(n).padStart(11, "0")}`,
    org,
    namespace,
    key,
    value,
    description: null,
    expires_at: null,
    created_at: t1,
    updated_at: t2,
    ...extra,
  });
  const entries: FixtureEntry[] = [
    entry(main, 1, "default", "config:api:timeout", 30, { description: "API timeout in seconds" }),
    entry(main, 2, "default", "a/b/c", { nested: { deep: [1, 2, { three: 3 }] }, z: "first", a: "second" }),
    entry(main, 3, "default", "unicode", "héllo wörld 👋 — \"quoted\" \\ back", { description: "ünïcödé 👋 \"desc\"" }),
    entry(main, 4, "default", "zero", 0),
    entry(main, 5, "default", "false", false),
    entry(main, 6, "default", "empty-string", ""),
    entry(main, 7, "default", "empty-array", []),
    entry(main, 8, "default", "empty-object", {}),
    entry(main, 9, "default", "float", -12.5e-3),
    entry(main, 10, "production", "config:api:timeout", 60),
    entry(main, 11, "production", "feature.flags", { beta: true, rollout: 0.25 }, { expires_at: at("2099-12-31T23:59:59Z") }),
    entry(main, 12, "staging", "Case/Sensitive", "upper"),
    entry(main, 13, "staging", "case/sensitive", "lower"),
    entry(main, 14, "staging", "gone", "expired long ago", { expires_at: at("2021-01-01T00:00:00Z"), created_at: at("2020-12-01T00:00:00Z"), updated_at: at("2020-12-01T00:00:00Z") }),
    entry(team, 15, "production", "config:api:timeout", "team-a's own"),
    entry(team, 16, "team-ns", "only-team", [true]),
    entry(free, 17, "default", "free-entry", 1),
  ];
  return { organizations, apiKeys, entries, keys, ids: { main, team, free } };
}
type Fixture = ReturnType<typeof fixtureData>;

/** Builds the first release's database at `path`: the first embedded migration, then rows by plain SQL. */
function buildFirstReleaseDatabase(path: string): Fixture {
  const data = fixtureData();
  const sqlite = openDatabase(path);
  try {
    expect(migrate(sqlite, embeddedMigrations().slice(0, 1))).toEqual([embeddedMigrations()[0]!.tag]);
    sqlite.transaction(() => {
      for (const org of data.organizations) {
        sqlite.run(`INSERT INTO organizations (id, name, plan, max_entries, created_at) VALUES (?, ?, ?, ?, ?)`, [org.id, org.name, org.plan, org.max_entries, org.created_at]);
      }
      for (const key of data.apiKeys) {
        sqlite.run(
          `INSERT INTO api_keys (id, organization_id, name, key_hash, key_prefix, created_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [key.id, key.organization_id, key.name, hashApiKey(key.secret), apiKeyPrefix(key.secret), key.created_at, key.last_used_at, key.revoked_at],
        );
      }
      for (const e of data.entries) {
        sqlite.run(
          `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [e.id, e.org, e.namespace, e.key, JSON.stringify(e.value), e.description, e.expires_at, e.created_at, e.updated_at],
        );
      }
    })();
  } finally {
    sqlite.close();
  }
  return data;
}

/** An entry as the API shows it. */
const shown = (e: FixtureEntry) => ({
  id: e.id,
  key: e.key,
  namespace: e.namespace,
  value: e.value,
  description: e.description,
  expires_at: iso(e.expires_at),
  created_at: iso(e.created_at)!,
  updated_at: iso(e.updated_at)!,
});

/** The live entries of one organization, in the listing's order (namespace, then key, by byte). */
function liveEntries(data: Fixture, org: string) {
  const now = Date.now() / 1000;
  const byte = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return data.entries
    .filter((e) => e.org === org && (e.expires_at === null || e.expires_at > now))
    .sort((a, b) => byte(a.namespace, b.namespace) || byte(a.key, b.key))
    .map(shown);
}

/** Every row of every table and the schema, in a stable order: equal snapshots mean nothing changed. */
function snapshot(path: string) {
  const sqlite = new Database(path, { readonly: true });
  try {
    const schema = sqlite.query<{ type: string; name: string; sql: string | null }, []>(`SELECT type, name, sql FROM sqlite_master ORDER BY type, name`).all();
    const tables = schema.filter((row) => row.type === "table" && !row.name.startsWith("sqlite_")).map((row) => row.name);
    const rows = Object.fromEntries(tables.map((table) => [table, sqlite.query(`SELECT * FROM "${table}" ORDER BY rowid`).all()]));
    return { schema, rows };
  } finally {
    sqlite.close();
  }
}

/** The files in the test folder with their size and modification time. */
const folder = () =>
  readdirSync(dir)
    .sort()
    .map((name) => ({ name, size: statSync(join(dir, name)).size, mtimeMs: statSync(join(dir, name)).mtimeMs }));

async function serve(path = db) {
  const server = await startServerProcess(["serve", "--port", "0", "--db", path], { env: cleanEnv(), timeoutMs: 30_000 });
  children.push(server);
  return server;
}

async function stop(server: RunningProcess) {
  server.proc.kill("SIGTERM");
  expect(await server.exited(15_000)).toBe(0);
}

/** Status and JSON body of each answer, for whole-answer comparisons. */
function api(base: string, token: string) {
  const call = apiClient(base, token);
  return async (method: string, path: string, body?: unknown) => {
    const { status, json } = await call(method, path, body);
    return { status, json };
  };
}

/** Runs the CLI (`bun src/index.ts …`) to completion. */
async function cli(args: string[]) {
  const child = spawnProcess([process.execPath, ENTRY, ...args], { env: cleanEnv() });
  children.push(child);
  const code = await child.exited(30_000);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

const LATER_TAGS = embeddedMigrations()
  .slice(1)
  .map((m) => m.tag);

describe("a database from the first release (first migration only)", () => {
  test("migrating it forward applies every later migration and leaves every organization, key and entry row as it was", () => {
    buildFirstReleaseDatabase(db);
    const before = snapshot(db).rows;
    const sqlite = openDatabase(db);
    open.push(sqlite);
    expect(migrate(sqlite)).toEqual(LATER_TAGS);
    const after = snapshot(db).rows;
    expect(after.organizations).toEqual(before.organizations!);
    expect(after.api_keys).toEqual(before.api_keys!);
    expect(after.entries).toEqual(before.entries!);
    expect(sqlite.query<{ hash: string }, []>(`SELECT hash FROM "__drizzle_migrations" ORDER BY id`).all().map((row) => row.hash)).toEqual(
      embeddedMigrations().map((m) => m.hash),
    );
  });

  test("the server started on it migrates it and serves every live entry exactly as stored, one by one and in listings", async () => {
    const data = buildFirstReleaseDatabase(db);
    const server = await serve();
    const applied = logLines(server.stderr()).find((line) => line.message === "applied migrations");
    expect(applied?.migrations).toEqual(LATER_TAGS);
    // An existing database gets no bootstrap organization or key.
    expect(server.stdout()).not.toContain("hklst_");

    const main = api(server.url, data.keys.main);
    const expected = liveEntries(data, data.ids.main);
    expect(expected.length).toBe(13);
    const listing = await main("GET", "/api/v1/datastore?page_size=100");
    expect(listing).toEqual({ status: 200, json: { data: expected, page: 1, page_size: 100, total_count: 13, total_pages: 1 } });
    for (const entry of expected) {
      expect(await main("GET", `/api/v1/datastore/entries/${entry.key}?namespace=${entry.namespace}`)).toEqual({ status: 200, json: { data: entry } });
    }
    expect((await main("GET", "/api/v1/datastore/entries/gone?namespace=staging")).status).toBe(404);
    expect(await main("GET", "/api/v1/datastore/namespaces")).toEqual({ status: 200, json: { data: ["default", "production", "staging"] } });

    // The other organization's entries are its own, under the same namespace and key.
    const team = api(server.url, data.keys.team);
    expect(await team("GET", "/api/v1/datastore?page_size=100")).toMatchObject({ status: 200, json: { data: liveEntries(data, data.ids.team), total_count: 2 } });
    expect((await team("GET", "/api/v1/datastore/entries/config:api:timeout?namespace=production")).json.data.value).toBe("team-a's own");
  }, TIMEOUT);

  test("after the upgrade its organizations and API keys are listed as stored, its keys authenticate and the revoked one does not", async () => {
    const data = buildFirstReleaseDatabase(db);
    const server = await serve();
    const main = api(server.url, data.keys.main);

    expect(await main("GET", "/api/v1/organizations")).toEqual({ status: 200, json: [{ id: data.ids.main, name: "default" }] });
    const keys = await main("GET", `/api/v1/organizations/${data.ids.main}/api-keys`);
    expect(keys.status).toBe(200);
    const stored = data.apiKeys.filter((key) => key.organization_id === data.ids.main);
    expect(keys.json.data.map(({ last_used_at: _, ...rest }: Record<string, unknown>) => rest)).toEqual(
      stored.map((key) => ({ id: key.id, name: key.name, created_at: iso(key.created_at), revoked_at: iso(key.revoked_at) })),
    );
    // last_used_at may have moved forward with this very request, never back.
    const lastUsed = keys.json.data.find((key: { id: string }) => key.id === stored[0]!.id).last_used_at;
    expect(Date.parse(lastUsed)).toBeGreaterThanOrEqual(stored[0]!.last_used_at! * 1000);

    expect((await api(server.url, data.keys.mainRevoked)("GET", "/api/v1/datastore")).status).toBe(401);
    expect((await api(server.url, randomApiKey())("GET", "/api/v1/datastore")).status).toBe(401);
    // The free organization's key authenticates; its plan has no datastore.
    const free = api(server.url, data.keys.free);
    expect(await free("GET", "/api/v1/organizations")).toEqual({ status: 200, json: [{ id: data.ids.free, name: "free-b" }] });
    expect((await free("GET", "/api/v1/datastore")).status).toBe(403);
    // team-a keeps its own entry limit (2, which it has reached; its plan alone would allow 1,000).
    const team = api(server.url, data.keys.team);
    expect(await team("PUT", "/api/v1/datastore/entries", { entry: { key: "new", value: 1 } })).toEqual({
      status: 422,
      json: { error: "Entry limit reached", limit: 2 },
    });
    expect((await team("PUT", "/api/v1/datastore/entries", { entry: { key: "only-team", namespace: "team-ns", value: 2 } })).status).toBe(200);
  }, TIMEOUT);

  test("after the upgrade it takes writes: an update keeps the stored entry's id and created_at, and revoking a key works at once", async () => {
    const data = buildFirstReleaseDatabase(db);
    const server = await serve();
    const main = api(server.url, data.keys.main);
    const original = shown(data.entries[0]!);

    const updated = await main("PUT", "/api/v1/datastore/entries", { entry: { key: original.key, value: 45 } });
    expect(updated.status).toBe(200);
    expect(updated.json.data).toMatchObject({ id: original.id, created_at: original.created_at, value: 45, description: null });
    expect(updated.json.data.updated_at).not.toBe(original.updated_at);
    expect(await main("DELETE", "/api/v1/datastore/entries/a/b/c")).toMatchObject({ status: 200, json: { data: { id: "ds_fixture00000000002" } } });

    // Revocation relies on the triggers of a later migration.
    const team = api(server.url, data.keys.team);
    expect((await team("GET", "/api/v1/datastore")).status).toBe(200);
    expect((await team("DELETE", `/api/v1/organizations/${data.ids.team}/api-keys/key_Fixture0000TeamA0001`)).status).toBe(204);
    expect((await team("GET", "/api/v1/datastore")).status).toBe(401);

    await stop(server);
    const again = await serve();
    expect(await api(again.url, data.keys.main)("GET", `/api/v1/datastore/entries/${original.key}`)).toMatchObject({ status: 200, json: { data: updated.json.data } });
  }, TIMEOUT);

  test("`datastore migrate` upgrades it, keeps every row, and a second run says it is up to date", async () => {
    buildFirstReleaseDatabase(db);
    const before = snapshot(db).rows;
    const first = await cli(["migrate", "--db", db]);
    expect(first).toMatchObject({ code: 0, stdout: `Applied to ${db}: ${LATER_TAGS.join(", ")}\n` });
    const after = snapshot(db).rows;
    for (const table of ["organizations", "api_keys", "entries"]) expect(after[table]).toEqual(before[table]!);
    expect(await cli(["migrate", "--db", db])).toMatchObject({ code: 0, stdout: `${db} is up to date\n` });
  }, TIMEOUT);
});

describe("migrations are idempotent", () => {
  test("migrating a populated, fully migrated database again applies nothing and leaves its file byte-for-byte unchanged", () => {
    buildFirstReleaseDatabase(db);
    const first = openDatabase(db);
    migrate(first);
    first.close();
    const before = snapshot(db);
    const bytes = readFileSync(db);

    for (let run = 0; run < 3; run++) {
      const sqlite = openDatabase(db);
      try {
        expect(migrate(sqlite)).toEqual([]);
      } finally {
        sqlite.close();
      }
    }
    expect(snapshot(db)).toEqual(before);
    expect(readFileSync(db).equals(bytes)).toBe(true);
  });

  test("migrating one migration at a time reaches the same schema as migrating a new database at once", () => {
    buildFirstReleaseDatabase(db);
    const all = embeddedMigrations();
    for (let upTo = 2; upTo <= all.length; upTo++) {
      const sqlite = openDatabase(db);
      try {
        expect(migrate(sqlite, all.slice(0, upTo))).toEqual([all[upTo - 1]!.tag]);
        expect(migrate(sqlite, all.slice(0, upTo))).toEqual([]);
      } finally {
        sqlite.close();
      }
    }
    const fresh = join(dir, "fresh.db");
    const sqlite = openDatabase(fresh);
    migrate(sqlite);
    sqlite.close();
    expect(snapshot(db).schema).toEqual(snapshot(fresh).schema);
    expect(snapshot(db).rows.__drizzle_migrations).toEqual(snapshot(fresh).rows.__drizzle_migrations!);
  });

  test("restarting the server on an upgraded, populated database applies no migration and changes no row", async () => {
    buildFirstReleaseDatabase(db);
    await stop(await serve());
    const before = snapshot(db);
    const second = await serve();
    expect(logLines(second.stderr()).some((line) => line.message === "applied migrations")).toBe(false);
    await stop(second);
    expect(snapshot(db)).toEqual(before);
  }, TIMEOUT);
});

describe("a database from a newer release", () => {
  /** A populated, fully migrated database that also records a migration this release does not know. */
  function buildNewerDatabase() {
    buildFirstReleaseDatabase(db);
    const sqlite = openDatabase(db);
    migrate(sqlite);
    sqlite.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`, ["e".repeat(64), embeddedMigrations().at(-1)!.when + 1]);
    sqlite.close();
    expect(existsSync(`${db}-wal`)).toBe(false);
  }

  test("serve refuses it with exit 1 and one error line saying to upgrade, and the file is left byte-for-byte untouched", async () => {
    buildNewerDatabase();
    const bytes = readFileSync(db);
    const files = folder();
    await Bun.sleep(20); // so that any write would show in mtime

    const child = spawnProcess([process.execPath, ENTRY, "serve", "--port", "0", "--db", db], { env: cleanEnv() });
    children.push(child);
    expect(await child.exited(30_000)).toBe(1);
    const lines = child.stderr().split("\n").filter((line) => line !== "" && !line.startsWith("{"));
    expect(lines).toEqual([expect.stringMatching(/^error: .*newer release.*upgrade/)]);
    expect(logLines(child.stderr()).some((line) => line.message === "listening")).toBe(false);

    expect(readFileSync(db).equals(bytes)).toBe(true);
    expect(folder()).toEqual(files);
  }, TIMEOUT);

  test("`datastore migrate` refuses it the same way and leaves the file untouched", async () => {
    buildNewerDatabase();
    const bytes = readFileSync(db);
    const files = folder();
    await Bun.sleep(20);

    const result = await cli(["migrate", "--db", db]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/^error: .*newer release.*upgrade/)]);
    expect(readFileSync(db).equals(bytes)).toBe(true);
    expect(folder()).toEqual(files);
  }, TIMEOUT);
});
