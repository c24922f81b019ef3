// The measuring stick: the same GET, PUT and list routes as Datastore on the same database
// layout, hand-written on Bun.serve + bun:sqlite with prepared statements and no framework.
//   bun bench/stick.ts --port P --db FILE --token T --org ORG_ID [--durability normal|full]
import { Database } from "bun:sqlite";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { port: { type: "string" }, db: { type: "string" }, token: { type: "string" }, org: { type: "string" }, durability: { type: "string", default: "normal" } },
});
if (!args.port || !args.db || !args.token || !args.org || !["normal", "full"].includes(args.durability!)) {
  console.error("usage: bun bench/stick.ts --port P --db FILE --token T --org ORG_ID [--durability normal|full]");
  process.exit(2);
}
const org = args.org;
const authorization = `Bearer ${args.token}`;

const db = new Database(args.db, { strict: true });
db.run("PRAGMA busy_timeout = 5000");
db.run("PRAGMA journal_mode = WAL");
db.run(`PRAGMA synchronous = ${args.durability === "full" ? "FULL" : "NORMAL"}`);

type Row = { id: string; key: string; namespace: string; value: string; description: string | null; expires_at: number | null; created_at: number; updated_at: number };
const COLUMNS = "id, key, namespace, value, description, expires_at, created_at, updated_at";
const LIVE = "(expires_at IS NULL OR expires_at > ?)";
const getOne = db.query<Row, [string, string, string, number]>(`SELECT ${COLUMNS} FROM entries WHERE organization_id = ? AND namespace = ? AND key = ? AND ${LIVE}`);
const RANGE = `organization_id = ? AND namespace = ? AND key >= ? AND key < ? AND ${LIVE}`;
const count = db.query<{ n: number }, [string, string, string, string, number]>(`SELECT count(*) AS n FROM entries WHERE ${RANGE}`);
const page = db.query<Row, [string, string, string, string, number, number, number]>(`SELECT ${COLUMNS} FROM entries WHERE ${RANGE} ORDER BY key LIMIT ? OFFSET ?`);
// The organization's namespaces by skip-scan (one index seek each): a listing without a
// namespace then reads one key range per namespace instead of every entry of the organization.
const namespacesOf = db.query<{ name: string }, [string]>(
  `WITH RECURSIVE ns(name) AS (SELECT min(namespace) FROM entries WHERE organization_id = ?1 UNION ALL
   SELECT (SELECT min(namespace) FROM entries WHERE organization_id = ?1 AND namespace > name) FROM ns WHERE name IS NOT NULL)
   SELECT name FROM ns WHERE name IS NOT NULL`,
);
// An expired row at the key is replaced by a new entry: new id and created_at.
const STILL_LIVE = "(entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at)";
const upsert = db.query<Row, [string, string, string, string, string, string | null, number | null, number, number]>(
  `INSERT INTO entries (id, organization_id, namespace, key, value, description, expires_at, created_at, updated_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (organization_id, namespace, key) DO UPDATE SET
     id = iif(${STILL_LIVE}, entries.id, excluded.id), created_at = iif(${STILL_LIVE}, entries.created_at, excluded.created_at),
     value = excluded.value, description = excluded.description, expires_at = excluded.expires_at, updated_at = excluded.updated_at
   RETURNING ${COLUMNS}`,
);

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
// The stored value is already JSON text: spliced in, not parsed and re-serialized.
const entryJson = (r: Row) =>
  `{"id":${JSON.stringify(r.id)},"key":${JSON.stringify(r.key)},"namespace":${JSON.stringify(r.namespace)},"value":${r.value},` +
  `"description":${JSON.stringify(r.description)},"expires_at":${r.expires_at === null ? "null" : `"${iso(r.expires_at)}"`},` +
  `"created_at":"${iso(r.created_at)}","updated_at":"${iso(r.updated_at)}"}`;
const json = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "application/json" } });
const error = (status: number, message: string) => json(JSON.stringify({ error: message }), status);
const nowSec = () => Math.floor(Date.now() / 1000);
const successor = (p: string) => p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
const ENTRY_PATH = "/api/v1/datastore/entries/";

async function put(request: Request): Promise<Response> {
  const entry = ((await request.json().catch(() => null)) as { entry?: Record<string, unknown> } | null)?.entry;
  if (typeof entry !== "object" || entry === null) return error(400, "Missing entry object");
  const { key, namespace = "default", value, description = null, ttl_seconds: ttl = null } = entry;
  if (typeof key !== "string" || typeof namespace !== "string" || value === undefined || value === null) return error(422, "Validation failed");
  const now = nowSec();
  const id = `ds_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  const expiresAt = typeof ttl === "number" ? now + Math.ceil(ttl) : null;
  const [row] = upsert.all(id, org, namespace, key, JSON.stringify(value), typeof description === "string" ? description : null, expiresAt, now, now);
  return json(`{"data":${entryJson(row!)}}`);
}

function list(url: URL): Response {
  const prefix = url.searchParams.get("prefix") ?? "";
  const pageNo = Number(url.searchParams.get("page") ?? 1);
  const pageSize = Number(url.searchParams.get("page_size") ?? 50);
  // An empty prefix means every key: ["", "\x7f") holds the whole key alphabet.
  const [from, to] = prefix ? [prefix, successor(prefix)] : ["", "\x7f"];
  const namespace = url.searchParams.get("namespace");
  const now = nowSec();
  const rows: Row[] = [];
  let [total, skip] = [0, (pageNo - 1) * pageSize];
  for (const ns of namespace ? [namespace] : namespacesOf.all(org).map((r) => r.name)) {
    const n = count.get(org, ns, from, to, now)!.n;
    total += n;
    if (skip < n && rows.length < pageSize) rows.push(...page.all(org, ns, from, to, now, pageSize - rows.length, skip));
    skip = Math.max(0, skip - n);
  }
  const pages = Math.ceil(total / pageSize);
  return json(`{"data":[${rows.map(entryJson).join(",")}],"page":${pageNo},"page_size":${pageSize},"total_count":${total},"total_pages":${pages}}`);
}

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(args.port),
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("authorization") !== authorization) return error(401, "Authentication required");
    if (request.method === "GET" && url.pathname.startsWith(ENTRY_PATH)) {
      const row = getOne.get(org, url.searchParams.get("namespace") ?? "default", decodeURIComponent(url.pathname.slice(ENTRY_PATH.length)), nowSec());
      return row ? json(`{"data":${entryJson(row)}}`) : error(404, "Entry not found");
    }
    if (request.method === "PUT" && url.pathname === "/api/v1/datastore/entries") return put(request);
    if (request.method === "GET" && url.pathname === "/api/v1/datastore") return list(url);
    return error(404, "Not found");
  },
});
