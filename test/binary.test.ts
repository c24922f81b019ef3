// End to end: compile the executable as `bun run build` does, copy it alone into an empty
// folder, and use it there over real HTTP.
import { afterEach, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json";
import { bootstrapKey, cleanEnv, freePort, ROOT, spawnProcess, startServerProcess, tempDir, withTimeout, type RunningProcess } from "./process-helpers";

const children: RunningProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** package.json's build command, writing to `outfile` instead of dist/datastore. */
function buildCommand(outfile: string): string[] {
  const script = pkg.scripts.build;
  expect(script).toContain("--outfile dist/datastore");
  const argv = script.replace("--outfile dist/datastore", "--outfile " + outfile).split(/\s+/);
  expect(argv[0]).toBe("bun");
  return [process.execPath, ...argv.slice(1)];
}

test("the compiled executable, copied alone into an empty folder, serves create/get/list/delete and stops cleanly", async () => {
  const build = tempDir("datastore-build-");
  const run = tempDir("datastore-run-");
  cleanups.push(build.cleanup, run.cleanup);

  const builder = spawnProcess(buildCommand(join(build.dir, "datastore")), { cwd: ROOT });
  children.push(builder);
  expect(await builder.exited(90_000)).toBe(0);
  const binary = join(run.dir, "datastore");
  copyFileSync(join(build.dir, "datastore"), binary);
  expect(readdirSync(run.dir)).toEqual(["datastore"]);

  const version = spawnProcess([binary, "--version"], { cwd: run.dir });
  children.push(version);
  expect(await version.exited(10_000)).toBe(0);
  expect(version.stdout()).toBe(`${pkg.version}\n`);

  const port = freePort();
  const server = await startServerProcess(["serve", "--port", String(port)], { cmd: [binary], cwd: run.dir, env: cleanEnv() });
  children.push(server);
  expect(server.url).toBe(`http://127.0.0.1:${port}`);
  const key = await bootstrapKey(server);
  expect(existsSync(join(run.dir, "data", "datastore.db"))).toBe(true);

  const call = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await withTimeout(fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), 5_000, `${method} ${path}`);
    return { status: response.status, json: (await response.json()) as any };
  };

  const created = await call("PUT", "/api/v1/datastore/entries", {
    entry: { key: "config:api:timeout", namespace: "production", value: 30, description: "API timeout in seconds" },
  });
  expect(created.status).toBe(200);
  const entry = created.json.data;
  expect(entry).toMatchObject({ key: "config:api:timeout", namespace: "production", value: 30, description: "API timeout in seconds", expires_at: null });
  expect(Object.keys(entry)).toEqual(["id", "key", "namespace", "value", "description", "expires_at", "created_at", "updated_at"]);

  expect(await call("GET", "/api/v1/datastore/entries/config:api:timeout?namespace=production")).toEqual({ status: 200, json: { data: entry } });
  expect(await call("GET", "/api/v1/datastore")).toEqual({
    status: 200,
    json: { data: [entry], page: 1, page_size: 50, total_count: 1, total_pages: 1 },
  });
  expect(await call("DELETE", "/api/v1/datastore/entries/config:api:timeout?namespace=production")).toEqual({ status: 200, json: { data: entry } });
  expect(await call("GET", "/api/v1/datastore/entries/config:api:timeout?namespace=production")).toEqual({
    status: 404,
    json: { error: "Entry not found" },
  });

  server.proc.kill("SIGTERM");
  expect(await server.exited(10_000)).toBe(0);
}, 120_000);
