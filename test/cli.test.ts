import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json";
import { createApp } from "../src/app";
import { createAuthenticator } from "../src/auth";
import { runCli } from "../src/cli/program";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { silentLogger } from "../src/log";
import { createSqliteStore } from "../src/store/sqlite";
import { tempDir } from "./process-helpers";

const KEY_FORMAT = /^hklst_[A-Za-z0-9_-]{32,}$/;

let dir: string;
let cleanup: () => void;
let db: string;

beforeEach(() => {
  ({ dir, cleanup } = tempDir("datastore-cli-"));
  db = join(dir, "datastore.db");
});
afterEach(() => cleanup());

/** Runs one command line in-process; the environment is only `env` (DATASTORE_DB = the test's database unless given). */
async function cli(argv: string[], env: Record<string, string | undefined> = { DATASTORE_DB: db }) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { env, stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
  return { code, stdout, stderr };
}

/** Runs a command that must succeed and returns its stdout parsed as JSON. */
async function cliJson(argv: string[], env?: Record<string, string | undefined>) {
  const result = await cli(argv, env);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  expect(result.stdout.endsWith("\n")).toBe(true);
  expect(result.stdout.trimEnd().split("\n")).toHaveLength(1);
  return JSON.parse(result.stdout);
}

/** Expects exit code 2, nothing on stdout, and one `error: …` line on stderr containing each of `mentions`. */
async function expectUsageError(argv: string[], mentions: string[], env?: Record<string, string | undefined>) {
  const result = await cli(argv, env);
  expect(result.code).toBe(2);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
  for (const mention of mentions) expect(result.stderr).toContain(mention);
  return result.stderr;
}

/** The HTTP app over `path` (as `serve` wires it), to check that a key authenticates. */
async function withApp<T>(path: string, work: (get: (token: string) => Promise<number>) => Promise<T>): Promise<T> {
  const sqlite = openDatabase(path);
  migrate(sqlite);
  const store = createSqliteStore(sqlite);
  const clock = Date.now;
  const authenticator = createAuthenticator({ store, clock, dev: false, logger: silentLogger });
  const app = createApp({ store, authenticator, clock, logger: silentLogger });
  const get = async (token: string) =>
    (await app.handle(new Request("http://localhost/api/v1/datastore", { headers: { authorization: `Bearer ${token}` } }))).status;
  try {
    return await work(get);
  } finally {
    await store.close();
  }
}

describe("orgs create", () => {
  test("--json prints exactly one object {id, name, plan, max_entries}, plan scale and max_entries null by default", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    expect(Object.keys(org)).toEqual(["id", "name", "plan", "max_entries"]);
    expect(org).toEqual({ id: expect.stringMatching(/^org_[A-Za-z0-9]+$/), name: "acme", plan: "scale", max_entries: null });
  });

  test("--plan starter --max-entries 5 is stored and printed", async () => {
    const org = await cliJson(["orgs", "create", "small", "--plan", "starter", "--max-entries", "5", "--json"]);
    expect(org).toEqual({ id: expect.stringMatching(/^org_/), name: "small", plan: "starter", max_entries: 5 });
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([org]);
  });

  test("without --json prints a human line naming the organization and nothing on stderr", async () => {
    const result = await cli(["orgs", "create", "acme"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("acme");
    expect(result.stdout).toMatch(/org_[A-Za-z0-9]+/);
  });

  test("creates the database file and its folder when they do not exist", async () => {
    const nested = join(dir, "a", "b", "ds.db");
    await cliJson(["orgs", "create", "acme", "--json", "--db", nested]);
    expect(existsSync(nested)).toBe(true);
  });

  test("a duplicate name exits 2 naming the name", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    await expectUsageError(["orgs", "create", "acme", "--json"], ['"acme"', "already exists"]);
    expect(await cliJson(["orgs", "list", "--json"])).toHaveLength(1);
  });

  test("a bad --plan exits 2 naming --plan and the value", async () => {
    await expectUsageError(["orgs", "create", "acme", "--plan", "gold"], ["--plan", "gold"]);
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([]);
  });

  test.each(["-1", "abc", "1.5", ""])("--max-entries %p exits 2 naming --max-entries", async (value) => {
    await expectUsageError(["orgs", "create", "acme", "--max-entries", value], ["--max-entries"]);
  });

  test("a missing NAME exits 2 naming the argument", async () => {
    await expectUsageError(["orgs", "create", "--json"], ["missing", "name"]);
  });
});

describe("orgs list", () => {
  test("--json prints an empty array for a new database", async () => {
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([]);
  });

  test("--json prints an array of {id, name, plan, max_entries}", async () => {
    const a = await cliJson(["orgs", "create", "alpha", "--json"]);
    const b = await cliJson(["orgs", "create", "beta", "--plan", "team", "--max-entries", "0", "--json"]);
    const list = await cliJson(["orgs", "list", "--json"]);
    expect(list).toHaveLength(2);
    expect(list).toEqual(expect.arrayContaining([a, b]));
    for (const org of list) expect(Object.keys(org)).toEqual(["id", "name", "plan", "max_entries"]);
  });

  test("without --json prints a table with each organization's id and name", async () => {
    const org = await cliJson(["orgs", "create", "alpha", "--json"]);
    const result = await cli(["orgs", "list"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain(org.id);
    expect(result.stdout).toContain("alpha");
  });
});

describe("orgs set-plan", () => {
  test("by name changes the plan and the max entries", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    const result = await cli(["orgs", "set-plan", "acme", "--plan", "team", "--max-entries", "10"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([{ ...org, plan: "team", max_entries: 10 }]);
  });

  test("by id changes the plan and keeps max entries when --max-entries is omitted", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--max-entries", "7", "--json"]);
    expect((await cli(["orgs", "set-plan", org.id, "--plan", "free"])).code).toBe(0);
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([{ ...org, plan: "free", max_entries: 7 }]);
  });

  test('--max-entries none goes back to the plan\'s own limit (max_entries null)', async () => {
    const org = await cliJson(["orgs", "create", "acme", "--max-entries", "7", "--json"]);
    expect((await cli(["orgs", "set-plan", "acme", "--plan", "starter", "--max-entries", "none"])).code).toBe(0);
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([{ ...org, plan: "starter", max_entries: null }]);
  });

  test("changes only the named organization", async () => {
    const a = await cliJson(["orgs", "create", "alpha", "--json"]);
    const b = await cliJson(["orgs", "create", "beta", "--json"]);
    expect((await cli(["orgs", "set-plan", "beta", "--plan", "starter"])).code).toBe(0);
    const list = await cliJson(["orgs", "list", "--json"]);
    expect(list).toEqual(expect.arrayContaining([a, { ...b, plan: "starter" }]));
  });

  test("an unknown org exits 2 naming it", async () => {
    await expectUsageError(["orgs", "set-plan", "ghost", "--plan", "team"], ['"ghost"']);
  });

  test("a missing --plan exits 2 naming --plan", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    await expectUsageError(["orgs", "set-plan", "acme"], ["--plan"]);
  });

  test("a bad --plan exits 2 and changes nothing", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    await expectUsageError(["orgs", "set-plan", "acme", "--plan", "enterprise"], ["--plan", "enterprise"]);
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([org]);
  });

  test("a bad --max-entries exits 2 and changes nothing", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    await expectUsageError(["orgs", "set-plan", "acme", "--plan", "team", "--max-entries", "lots"], ["--max-entries", "lots"]);
    expect(await cliJson(["orgs", "list", "--json"])).toEqual([org]);
  });
});

describe("keys create", () => {
  test("--json prints exactly {id, name, key, org_id}", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    const key = await cliJson(["keys", "create", "--org", "acme", "--name", "ci", "--json"]);
    expect(Object.keys(key)).toEqual(["id", "name", "key", "org_id"]);
    expect(key).toEqual({ id: expect.stringMatching(/^key_[A-Za-z0-9]+$/), name: "ci", key: expect.stringMatching(KEY_FORMAT), org_id: org.id });
  });

  test("--org accepts the organization id", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    const key = await cliJson(["keys", "create", "--org", org.id, "--json"]);
    expect(key.org_id).toBe(org.id);
  });

  test("the printed key authenticates against the same database", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    const { key } = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    await withApp(db, async (get) => {
      expect(await get(key)).toBe(200);
      expect(await get(key.slice(0, -1) + (key.endsWith("A") ? "B" : "A"))).toBe(401);
    });
  });

  test("each key is different", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    const a = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    const b = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    expect(a.key).not.toBe(b.key);
    expect(a.id).not.toBe(b.id);
  });

  test("without --json prints the key once in a human message", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    const result = await cli(["keys", "create", "--org", "acme"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout.match(/hklst_[A-Za-z0-9_-]+/g)).toHaveLength(1);
  });

  test("an unknown org exits 2 naming it and creates no key", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    await expectUsageError(["keys", "create", "--org", "ghost", "--json"], ['"ghost"']);
    expect(await cliJson(["keys", "list", "--org", "acme", "--json"])).toEqual([]);
  });

  test("a missing --org exits 2 naming --org", async () => {
    await expectUsageError(["keys", "create", "--json"], ["--org"]);
  });
});

describe("keys list", () => {
  test("--json lists the organization's keys without the clear keys", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    await cliJson(["orgs", "create", "other", "--json"]);
    const a = await cliJson(["keys", "create", "--org", "acme", "--name", "first", "--json"]);
    const b = await cliJson(["keys", "create", "--org", "acme", "--name", "second", "--json"]);
    await cliJson(["keys", "create", "--org", "other", "--json"]);
    const result = await cli(["keys", "list", "--org", "acme", "--json"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).not.toContain(a.key);
    expect(result.stdout).not.toContain(b.key);
    const list = JSON.parse(result.stdout);
    expect(list).toHaveLength(2);
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: a.id, name: "first", revoked_at: null }),
        expect.objectContaining({ id: b.id, name: "second", revoked_at: null }),
      ]),
    );
    for (const key of list) expect(key).not.toHaveProperty("key");
  });

  test("without --json prints a table with the key ids, never the keys", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    const a = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    const result = await cli(["keys", "list", "--org", "acme"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain(a.id);
    expect(result.stdout).not.toContain(a.key);
  });

  test("an unknown org exits 2 naming it", async () => {
    await expectUsageError(["keys", "list", "--org", "ghost"], ['"ghost"']);
  });
});

describe("keys revoke", () => {
  test("the revoked key then gets 401 while another key of the organization still works", async () => {
    await cliJson(["orgs", "create", "acme", "--json"]);
    const revoked = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    const kept = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    await withApp(db, async (get) => expect(await get(revoked.key)).toBe(200));

    const result = await cli(["keys", "revoke", revoked.id]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain(revoked.id);

    await withApp(db, async (get) => {
      expect(await get(revoked.key)).toBe(401);
      expect(await get(kept.key)).toBe(200);
    });
    const list = await cliJson(["keys", "list", "--org", "acme", "--json"]);
    expect(list.find((key: any) => key.id === revoked.id).revoked_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(list.find((key: any) => key.id === kept.id).revoked_at).toBeNull();
  });

  test("an unknown key id exits 2 naming it", async () => {
    await expectUsageError(["keys", "revoke", "key_doesnotexist"], ['"key_doesnotexist"']);
  });

  test("a missing KEY_ID exits 2 naming the argument", async () => {
    await expectUsageError(["keys", "revoke"], ["missing", "key_id"]);
  });
});

describe("migrate", () => {
  test("applies the migrations to a new file, then reports it is up to date", async () => {
    const path = join(dir, "new", "fresh.db");
    const first = await cli(["migrate", "--db", path], {});
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toContain("0000_init");
    expect(existsSync(path)).toBe(true);

    const second = await cli(["migrate", "--db", path], {});
    expect(second).toMatchObject({ code: 0, stderr: "" });
    expect(second.stdout).toContain("up to date");
    expect(second.stdout).not.toContain("0000_init");
  });

  test("uses DATASTORE_DB when --db is not given", async () => {
    expect((await cli(["migrate"])).code).toBe(0);
    expect(existsSync(db)).toBe(true);
  });

  test("refuses a database written by a newer release with a one-line error and a non-zero exit", async () => {
    const sqlite = openDatabase(db);
    migrate(sqlite);
    sqlite.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES ('f'||hex(randomblob(31)), 4102444800000)`);
    sqlite.close();
    const result = await cli(["migrate", "--db", db], {});
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^error: [^\n]*newer[^\n]*\n$/);
  });
});

describe("program", () => {
  test("--version prints the package.json version", async () => {
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
  });

  test("--help exits 0 and lists the commands on stdout", async () => {
    const result = await cli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    for (const command of ["serve", "orgs", "keys", "migrate"]) expect(result.stdout).toContain(command);
  });

  test("a subcommand's --help exits 0", async () => {
    const result = await cli(["orgs", "create", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("--plan");
  });

  test("an unknown command exits 2 naming it", async () => {
    await expectUsageError(["frobnicate"], ["frobnicate"]);
  });

  test.each(["orgs", "keys"])("%s without a subcommand exits 2 with a one-line error", async (group) => {
    await expectUsageError([group], []);
  });

  test("an unknown subcommand exits 2 naming it", async () => {
    await expectUsageError(["orgs", "frobnicate"], ["frobnicate"]);
  });

  test("an unknown option exits 2 naming it", async () => {
    await expectUsageError(["orgs", "list", "--colour"], ["--colour"]);
  });

  test("an unknown top-level option exits 2 naming it", async () => {
    await expectUsageError(["--colour"], ["--colour"]);
  });

  test("an extra argument exits 2", async () => {
    await expectUsageError(["orgs", "create", "a", "b"], ["too many arguments"]);
  });

  test("an option missing its value exits 2 naming the option", async () => {
    await expectUsageError(["orgs", "create", "acme", "--plan"], ["--plan"]);
  });
});

describe("serve argument errors (nothing is started)", () => {
  test("a bad PORT exits 2 naming PORT", async () => {
    await expectUsageError(["serve", "--db", db], ["PORT", '"eighty"'], { PORT: "eighty" });
  });

  test("a bad --port exits 2 naming --port", async () => {
    await expectUsageError(["serve", "--db", db, "--port", "65536"], ["--port", '"65536"'], {});
  });

  test("--port beats PORT: a bad flag is reported even when PORT is valid", async () => {
    await expectUsageError(["serve", "--db", db, "--port", "x"], ["--port"], { PORT: "8080" });
  });

  test("a bad LOG_LEVEL exits 2 naming LOG_LEVEL", async () => {
    await expectUsageError(["serve", "--db", db], ["LOG_LEVEL"], { LOG_LEVEL: "chatty" });
  });

  test("a bad DATASTORE_DEV exits 2 naming DATASTORE_DEV", async () => {
    await expectUsageError(["serve", "--db", db], ["DATASTORE_DEV"], { DATASTORE_DEV: "perhaps" });
  });

  test("an unknown serve option exits 2 naming it", async () => {
    await expectUsageError(["serve", "--db", db, "--tls"], ["--tls"], {});
  });
});

describe("database selection", () => {
  test("--db beats DATASTORE_DB", async () => {
    const flagDb = join(dir, "flag.db");
    const envDb = join(dir, "env.db");
    const org = await cliJson(["orgs", "create", "acme", "--db", flagDb, "--json"], { DATASTORE_DB: envDb });
    expect(await cliJson(["orgs", "list", "--json"], { DATASTORE_DB: flagDb })).toEqual([org]);
    expect(await cliJson(["orgs", "list", "--json"], { DATASTORE_DB: envDb })).toEqual([]);
  });

  test("every command reads the database named by DATASTORE_DB", async () => {
    const org = await cliJson(["orgs", "create", "acme", "--json"]);
    const key = await cliJson(["keys", "create", "--org", "acme", "--json"]);
    expect(await cliJson(["orgs", "list", "--json"], { DATASTORE_DB: db })).toEqual([org]);
    expect((await cliJson(["keys", "list", "--org", org.id, "--json"], { DATASTORE_DB: db }))[0].id).toBe(key.id);
  });
});
