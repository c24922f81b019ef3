// The server's own start-up and stop, run in this process (startServer, listen) so the
// wiring is exercised directly; test/server.test.ts runs the same program as a subprocess.
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadServeConfig, type ServeConfig } from "../src/config";
import { createLogger } from "../src/log";
import { startServer, type RunningServer } from "../src/server";
import { randomApiKey, tempDir } from "./process-helpers";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts a server on a fresh temp database; returns it with what it printed and logged. */
async function start(overrides: Partial<ServeConfig> = {}, db?: string) {
  const folder = tempDir();
  cleanups.push(folder.cleanup);
  const config: ServeConfig = { ...loadServeConfig({ port: "0", db: db ?? join(folder.dir, "ds.db") }, {}), ...overrides };
  let printed = "";
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger("debug", (line) => logs.push(JSON.parse(line)));
  const server = await startServer(config, { logger, print: (text) => (printed += text) });
  let stopped = false;
  const stop = async () => {
    if (!stopped) await server.stop();
    stopped = true;
  };
  cleanups.push(stop);
  return { server, config, printed: () => printed, logs, stop };
}

const call = (server: RunningServer, key: string, path: string, init: RequestInit = {}) =>
  fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers } });

describe("startServer", () => {
  test("bootstraps a new database and prints the first key with a curl line that works", async () => {
    const { server, printed } = await start();

    const key = /hklst_[A-Za-z0-9_-]{43}/.exec(printed())![0];
    expect(printed()).toContain(`curl -H "Authorization: Bearer ${key}" ${server.url}/api/v1/datastore`);
    const put = await call(server, key, "/api/v1/datastore/entries", { method: "PUT", body: JSON.stringify({ entry: { key: "a/b", value: [1] } }) });
    expect(put.status).toBe(200);
    const get = await call(server, key, "/api/v1/datastore/entries/a/b");
    expect(((await get.json()) as { data: { value: unknown } }).data.value).toEqual([1]);
  });

  test("seeds the first key from the configuration", async () => {
    const seeded = randomApiKey();
    const { server, printed } = await start({ bootstrapKey: seeded });

    expect(printed()).toContain(seeded);
    expect((await call(server, seeded, "/api/v1/datastore")).status).toBe(200);
  });

  test("prints no key when the database already has an organization", async () => {
    const folder = tempDir();
    cleanups.push(folder.cleanup);
    const db = join(folder.dir, "ds.db");
    const first = await start({}, db);
    await first.stop();

    const second = await start({}, db);

    expect(second.printed()).toBe("");
  });

  test("answers /healthz and logs where it listens, with the durability mode", async () => {
    const { server, logs } = await start({ durability: "full" });

    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: "ok" });
    expect(logs).toContainEqual(expect.objectContaining({ message: "listening", url: server.url, durability: "full" }));
  });

  test("uses synchronous=FULL for --durability full and NORMAL by default", async () => {
    const { openDatabase } = await import("../src/db/client");
    const folder = tempDir();
    cleanups.push(folder.cleanup);
    const mode = (durability: "normal" | "full") => {
      const sqlite = openDatabase(join(folder.dir, `${durability}.db`), { durability });
      const value = sqlite.query<{ synchronous: number }, []>("PRAGMA synchronous").get()!.synchronous;
      sqlite.close();
      return value;
    };

    expect({ normal: mode("normal"), full: mode("full") }).toEqual({ normal: 1, full: 2 });
  });

  test("warns that anyone can write when dev mode listens beyond loopback", async () => {
    const { logs } = await start({ dev: true, host: "0.0.0.0" });

    expect(logs).toContainEqual(expect.objectContaining({ level: "warn", message: expect.stringContaining("anyone who can reach") }));
  });

  test("does not warn about dev mode on loopback", async () => {
    const { logs } = await start({ dev: true });

    expect(logs.filter((line) => line.level === "warn")).toEqual([]);
  });

  test("applies a rate limit from the configuration", async () => {
    const seeded = randomApiKey();
    const { server } = await start({ bootstrapKey: seeded, rateLimit: { perSecond: 1, burst: 2 } });

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(server, seeded, "/api/v1/datastore/namespaces")).status);

    expect(statuses).toEqual([200, 200, 429]);
  });

  test.each(["a", "api", "api:80"])("routes a request whose Host header is as short as %p", async (host) => {
    const { server } = await start();

    const answer = await fetch(`${server.url}/healthz`, { headers: { host } });

    expect({ status: answer.status, body: await answer.json() }).toEqual({ status: 200, body: { status: "ok" } });
  });

  test("stops cleanly: the port is closed and the WAL is folded into the database", async () => {
    const { server, config, stop } = await start();
    await fetch(`${server.url}/healthz`);

    await stop();

    expect(await fetch(`${server.url}/healthz`).then(() => "answered", () => "refused")).toBe("refused");
    expect(!existsSync(`${config.db}-wal`) || statSync(`${config.db}-wal`).size === 0).toBe(true);
    const sqlite = new Database(config.db, { readonly: true });
    expect(sqlite.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    sqlite.close();
  });

  test("fails with a message naming the address when the port is taken", async () => {
    const { server, config } = await start();
    const port = Number(new URL(server.url).port);

    await expect(start({ port }, config.db)).rejects.toThrow(`cannot listen on 127.0.0.1:${port}`);
  });
});
