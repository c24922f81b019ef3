// The real server as a subprocess (`bun src/index.ts serve --port 0`) on a temp database.
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../src/cli/program";
import {
  bootstrapKey,
  cleanEnv,
  ENTRY,
  freePort,
  logLines,
  randomApiKey,
  rawHttp,
  sleep,
  spawnProcess,
  startServerProcess,
  tempDir,
  withTimeout,
  type RunningProcess,
  apiClient,
} from "./process-helpers";

const TIMEOUT = 30_000;
const MiB = 1024 * 1024;

let dir: string;
let cleanup: () => void;
let db: string;
let children: RunningProcess[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir("datastore-server-"));
  db = join(dir, "datastore.db");
});
afterEach(() => {
  for (const child of children) child.kill();
  children = [];
  cleanup();
});

/** Starts `serve --port 0 --db <the test's db>` plus `args`; killed after the test. */
async function serve(args: string[] = [], env: Record<string, string> = {}) {
  const server = await startServerProcess(["serve", "--port", "0", "--db", db, ...args], { env: cleanEnv(env) });
  children.push(server);
  return server;
}

/** SIGTERM, then the exit code (bounded). */
async function stop(server: RunningProcess): Promise<number> {
  server.proc.kill("SIGTERM");
  return server.exited(10_000);
}

const api = (base: string, token: string) => apiClient(base, token, { timeoutMs: 5_000 });

/** The size of the -wal file beside `path`, or 0 when there is none. */
const walBytes = (path: string) => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);

describe("first start", () => {
  test("on an empty database creates org default, prints its key and a ready curl line, and that key works", async () => {
    const server = await serve();
    const key = await bootstrapKey(server);
    expect(key).toMatch(/^hklst_[A-Za-z0-9_-]{32,}$/);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.stdout()).toContain(`curl -H "Authorization: Bearer ${key}" ${server.url}/api/v1/datastore`);
    // The clear key is printed once, and only on stdout (never in the logs).
    expect(server.stdout().split(key).length - 1).toBe(2); // the key line and the curl line
    expect(server.stderr()).not.toContain(key);

    const call = api(server.url, key);
    expect(await call("GET", "/api/v1/datastore")).toMatchObject({
      status: 200,
      json: { data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 },
    });
    const orgs = await call("GET", "/api/v1/organizations");
    expect(orgs.status).toBe(200);
    expect(orgs.json).toEqual([{ id: expect.stringMatching(/^org_/), name: "default" }]);
  }, TIMEOUT);

  test("a second start on the same database prints no new key, and the first key still works", async () => {
    const first = await serve();
    const key = await bootstrapKey(first);
    expect(await stop(first)).toBe(0);

    const second = await serve();
    await sleep(200); // stdout would carry a key by now
    expect(second.stdout()).not.toMatch(/hklst_/);
    expect(second.stdout()).not.toContain("curl");
    expect((await api(second.url, key)("GET", "/api/v1/datastore")).status).toBe(200);
  }, TIMEOUT);

  test("DATASTORE_BOOTSTRAP_KEY seeds the first key instead of a random one", async () => {
    const seeded = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: seeded });
    expect(await bootstrapKey(server)).toBe(seeded);
    expect((await api(server.url, seeded)("GET", "/api/v1/datastore")).status).toBe(200);
    expect((await api(server.url, randomApiKey())("GET", "/api/v1/datastore")).status).toBe(401);
  }, TIMEOUT);

  test.each([
    ["no prefix", "x".repeat(43)],
    ["too short", "hklst_" + "a".repeat(31)],
    ["bad character", "hklst_" + "a".repeat(40) + "!"],
  ])("a malformed DATASTORE_BOOTSTRAP_KEY (%s) exits 2 with a one-line error naming it", async (_, bad) => {
    const child = spawnProcess([process.execPath, ENTRY, "serve", "--port", "0", "--db", db], { env: cleanEnv({ DATASTORE_BOOTSTRAP_KEY: bad }) });
    children.push(child);
    expect(await child.exited(10_000)).toBe(2);
    expect(child.stdout()).toBe("");
    const errors = child.stderr().split("\n").filter((line) => line !== "" && !line.startsWith("{"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("DATASTORE_BOOTSTRAP_KEY");
    expect(child.stderr()).not.toContain(bad);
  }, TIMEOUT);

  test("a database written by a newer release is refused: non-zero exit, one-line error, nothing served", async () => {
    const writer = new Database(db, { create: true });
    writer.run(`CREATE TABLE "__drizzle_migrations" (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)`);
    writer.run(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES ('${"f".repeat(64)}', 4102444800000)`);
    writer.close();
    const child = spawnProcess([process.execPath, ENTRY, "serve", "--port", "0", "--db", db]);
    children.push(child);
    const code = await child.exited(10_000);
    expect(code).not.toBe(0);
    expect(logLines(child.stderr()).some((line) => line.message === "listening")).toBe(false);
    expect(child.stderr()).toMatch(/^error: .*newer.*$/m);
  }, TIMEOUT);
});

describe("configuration", () => {
  test("PORT, HOST and DATASTORE_DB apply when no flag is given", async () => {
    const port = freePort();
    const server = await startServerProcess(["serve"], { env: cleanEnv({ PORT: String(port), HOST: "127.0.0.1", DATASTORE_DB: db }) });
    children.push(server);
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    expect(logLines(server.stderr()).find((line) => line.message === "listening")!.db).toBe(db);
    expect(existsSync(db)).toBe(true);
  }, TIMEOUT);

  test("flags beat the environment: --port and --db win over PORT and DATASTORE_DB", async () => {
    const envDb = join(dir, "from-env.db");
    const server = await serve([], { PORT: "not-a-port", DATASTORE_DB: envDb });
    expect(logLines(server.stderr()).find((line) => line.message === "listening")!.db).toBe(db);
    expect(existsSync(db)).toBe(true);
    expect(existsSync(envDb)).toBe(false);
  }, TIMEOUT);
});

describe("CLI changes while the server runs", () => {
  /** Runs one command in this (test) process against the server's database file. */
  async function cli(argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await runCli(argv, { env: { DATASTORE_DB: db }, stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
    return { code, stdout, stderr };
  }

  test("a key revoked with `keys revoke` gets 401 on the server's next request", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    expect((await api(server.url, key)("GET", "/api/v1/datastore")).status).toBe(200);
    const [keyRow] = JSON.parse((await cli(["keys", "list", "--org", "default", "--json"])).stdout);
    expect((await cli(["keys", "revoke", keyRow.id])).code).toBe(0);
    expect(await api(server.url, key)("GET", "/api/v1/datastore")).toMatchObject({ status: 401, json: { error: "Authentication required" } });
  }, TIMEOUT);

  test("a key made with `keys create` works on the server at once", async () => {
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: randomApiKey() });
    const created = JSON.parse((await cli(["keys", "create", "--org", "default", "--json"])).stdout);
    expect((await api(server.url, created.key)("GET", "/api/v1/datastore")).status).toBe(200);
  }, TIMEOUT);

  test("`orgs set-plan default --plan free` makes the running server answer 403 at once", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    expect((await api(server.url, key)("GET", "/api/v1/datastore")).status).toBe(200);
    expect((await cli(["orgs", "set-plan", "default", "--plan", "free"])).code).toBe(0);
    expect(await api(server.url, key)("GET", "/api/v1/datastore")).toMatchObject({
      status: 403,
      json: { error: "Datastore is not available on your plan" },
    });
  }, TIMEOUT);
});

describe("dev mode", () => {
  test("--dev accepts any hklst_ token and keeps each token's data apart", async () => {
    const server = await serve(["--dev"]);
    const alice = api(server.url, "hklst_alice");
    const bob = api(server.url, "hklst_bob");
    expect((await alice("PUT", "/api/v1/datastore/entries", { entry: { key: "who", value: "alice" } })).status).toBe(200);
    expect((await alice("GET", "/api/v1/datastore/entries/who")).json.data.value).toBe("alice");
    expect((await bob("GET", "/api/v1/datastore/entries/who")).status).toBe(404);
    expect((await api(server.url, "not_a_key")("GET", "/api/v1/datastore")).status).toBe(401);
  }, TIMEOUT);

  test("--dev on --host 0.0.0.0 warns on stderr that anyone who can reach it can write", async () => {
    const server = await serve(["--dev", "--host", "0.0.0.0"]);
    const warnings = logLines(server.stderr()).filter((line) => line.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain("0.0.0.0");
    expect(warnings[0]!.message).toContain("anyone who can reach");
    expect(warnings[0]!.message).toContain("write");
    expect(server.stdout()).not.toContain("anyone");
  }, TIMEOUT);

  test("--dev on the loopback default prints no such warning", async () => {
    const server = await serve(["--dev"]);
    expect(logLines(server.stderr()).filter((line) => line.level === "warn")).toEqual([]);
  }, TIMEOUT);

  test("DATASTORE_DEV=1 turns dev mode on", async () => {
    const server = await serve([], { DATASTORE_DEV: "1" });
    expect((await api(server.url, "hklst_anything")("GET", "/api/v1/datastore")).status).toBe(200);
  }, TIMEOUT);
});

describe("shutdown", () => {
  test("SIGTERM during an in-flight request: the request is answered, exit 0, no -wal left to recover", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    const body = JSON.stringify({ entry: { key: "in-flight", value: { written: "during shutdown" } } });
    const head =
      "PUT /api/v1/datastore/entries HTTP/1.1\r\nHost: localhost\r\n" +
      `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const half = Math.floor(body.length / 2);

    // Headers and half the body, then SIGTERM, then the rest: the handler is running when the signal lands.
    const answer = await rawHttp(server.port, [head + body.slice(0, half), body.slice(half)], {
      pauseMs: 300,
      beforePart: async (index) => {
        if (index !== 1) return;
        server.proc.kill("SIGTERM");
        await sleep(300);
      },
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data).toMatchObject({ key: "in-flight", namespace: "default", value: { written: "during shutdown" } });

    expect(await server.exited(10_000)).toBe(0);
    expect(logLines(server.stderr()).map((line) => line.message)).toContain("stopped");
    expect(walBytes(db)).toBe(0);

    const sqlite = new Database(db, { readonly: true });
    try {
      expect(sqlite.query(`SELECT key, value FROM entries`).all()).toEqual([{ key: "in-flight", value: '{"written":"during shutdown"}' }]);
    } finally {
      sqlite.close();
    }
  }, TIMEOUT);

  test("SIGTERM when idle: stops accepting, exits 0 and folds the WAL back", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    expect((await api(server.url, key)("PUT", "/api/v1/datastore/entries", { entry: { key: "k", value: 1 } })).status).toBe(200);
    expect(await stop(server)).toBe(0);
    expect(walBytes(db)).toBe(0);
    await expect(withTimeout(fetch(server.url + "/healthz"), 3_000, "a refused connection")).rejects.toThrow();
  }, TIMEOUT);

  test("an acknowledged write survives SIGKILL right after its 200", async () => {
    const key = randomApiKey();
    const first = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    const put = await api(first.url, key)("PUT", "/api/v1/datastore/entries", { entry: { key: "durable", value: [1, 2, 3] } });
    expect(put.status).toBe(200);
    first.proc.kill("SIGKILL");
    await first.exited(10_000);

    const second = await serve();
    expect(await api(second.url, key)("GET", "/api/v1/datastore/entries/durable")).toMatchObject({ status: 200, json: { data: put.json.data } });
  }, TIMEOUT);

  test("SIGTERM right after the listening line is still handled cleanly (exit 0), every time", async () => {
    // The signal is sent the moment "listening" is logged; tried several times since it is a race.
    const codes: number[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const server = await startServerProcess(["serve", "--port", "0", "--db", join(dir, `race-${attempt}.db`)], { env: cleanEnv(), waitForHealth: false });
      children.push(server);
      server.proc.kill("SIGTERM");
      codes.push(await server.exited(10_000));
      if (codes.at(-1) !== 0) break;
    }
    expect(codes).toEqual(Array(10).fill(0));
  }, TIMEOUT);

  test("SIGINT also stops cleanly with exit 0", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    expect((await api(server.url, key)("PUT", "/api/v1/datastore/entries", { entry: { key: "k", value: 1 } })).status).toBe(200);
    server.proc.kill("SIGINT");
    expect(await server.exited(10_000)).toBe(0);
    expect(walBytes(db)).toBe(0);
  }, TIMEOUT);
});

describe("over real HTTP", () => {
  test("a raw-slash key a/b/c can be written, read, listed and deleted, and a%2Fb%2Fc means the same key", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    const call = api(server.url, key);
    const put = await call("PUT", "/api/v1/datastore/entries", { entry: { key: "a/b/c", value: "slashes" } });
    expect(put.status).toBe(200);

    const raw = await call("GET", "/api/v1/datastore/entries/a/b/c");
    expect(raw.status).toBe(200);
    expect(raw.json.data).toEqual(put.json.data);
    expect(raw.json.data.key).toBe("a/b/c");

    const encoded = await call("GET", "/api/v1/datastore/entries/a%2Fb%2Fc");
    expect(encoded.status).toBe(200);
    expect(encoded.json.data).toEqual(put.json.data);

    expect((await call("GET", "/api/v1/datastore?prefix=a/b")).json.data.map((entry: any) => entry.key)).toEqual(["a/b/c"]);
    expect((await call("DELETE", "/api/v1/datastore/entries/a/b/c")).status).toBe(200);
    expect(await call("GET", "/api/v1/datastore/entries/a/b/c")).toMatchObject({ status: 404, json: { error: "Entry not found" } });
  }, TIMEOUT);

  test("a Content-Length over 1 MiB gets a JSON 413 before the body is sent", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    const head =
      "PUT /api/v1/datastore/entries HTTP/1.1\r\nHost: localhost\r\n" +
      `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${MiB + 1}\r\n\r\n`;
    const answer = await rawHttp(server.port, [head + '{"entry":']);
    expect(answer.status).toBe(413);
    expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String) });
    expect((await fetch(server.url + "/healthz")).status).toBe(200);
  }, TIMEOUT);

  test("a body of exactly 1 MiB is not refused as too large", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    // Padding inside `entry` (unknown fields there are ignored) brings the body to exactly 1 MiB.
    const prefix = '{"entry":{"key":"big","value":"x","pad":"';
    const body = prefix + "p".repeat(MiB - prefix.length - 3) + '"}}';
    expect(body.length).toBe(MiB);
    const response = await withTimeout(
      fetch(server.url + "/api/v1/datastore/entries", { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body }),
      10_000,
      "the 1 MiB PUT",
    );
    expect(response.status).toBe(200);
  }, TIMEOUT);

  test("an oversized chunked body gets 413 (or a dropped connection) and the server keeps serving", async () => {
    const key = randomApiKey();
    const server = await serve([], { DATASTORE_BOOTSTRAP_KEY: key });
    const head =
      "PUT /api/v1/datastore/entries HTTP/1.1\r\nHost: localhost\r\n" +
      `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const chunk = "x".repeat(64 * 1024);
    const chunks = Array.from({ length: 40 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`); // 2.5 MiB
    const start = '{"entry":{"key":"';
    const answer = await rawHttp(server.port, [head + `${start.length.toString(16)}\r\n${start}\r\n`, ...chunks, "0\r\n\r\n"], { timeoutMs: 15_000 });
    if (answer.status !== null) {
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String) });
    }
    expect((await withTimeout(fetch(server.url + "/healthz"), 5_000, "healthz")).status).toBe(200);
    expect(server.proc.exitCode).toBeNull();
    expect(await stop(server)).toBe(0);
  }, TIMEOUT);
});
