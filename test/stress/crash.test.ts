// Issue 3, promise 1: a write answered with 2xx survives the server being killed (SIGKILL) at
// any moment. The real server runs as a subprocess; concurrent loops PUT and DELETE until a
// random moment, the process is killed with requests in flight, restarted on the same file,
// and every key is checked against what was acknowledged.
//
// Default suite: 3 crash rounds per durability mode. `STRESS=1 bun test test/stress`: 20.
//
// What can be proven: each loop owns a disjoint set of keys and awaits each request before
// sending the next, so a key has at most one request in flight. After the restart a key must
// hold the last operation acknowledged for it (2xx), or the one that was in flight when the
// process died (it may or may not have committed). Anything else is a loss.
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { apiClient, cleanEnv, randomApiKey, startServerProcess, tempDir, withTimeout, type RunningServer } from "../process-helpers";

const STRESS = Boolean(process.env.STRESS);
const ROUNDS = STRESS ? 20 : 3;
/** Concurrent client loops; each owns KEYS_PER_LOOP keys of its own. */
const LOOPS = 24;
const KEYS_PER_LOOP = 12;
/** The load runs this long (uniformly random) before the kill. */
const LOAD_MS: [number, number] = [500, 3000];
/** Share of operations on a present key that are DELETEs. */
const DELETE_SHARE = 0.3;
const REQUEST_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = ROUNDS * 30_000 + 60_000;

interface Value {
  key: string;
  round: number;
  seq: number;
  pad: string;
}
type Op = { kind: "put"; seq: number; value: Value; entry?: Entry } | { kind: "delete"; seq: number };
interface Entry {
  id: string;
  key: string;
  namespace: string;
  value: Value;
  description: string | null;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}
interface KeyState {
  key: string;
  seq: number;
  /** The last operation answered 2xx (null: none yet). */
  acked: Op | null;
  /** The operation sent but not answered (its outcome is unknown). */
  inflight: Op | null;
  /** Present after the acknowledged operations (the client's exact view while nothing is in flight). */
  present: boolean;
}
interface Violation {
  round: number;
  key: string;
  problem: "acknowledged write lost" | "acknowledged delete lost" | "entry never written" | "entry changed" | "get and list disagree";
  observed: unknown;
  acked: unknown;
  inflight: unknown;
}
interface Totals {
  rounds: number;
  writesAcked: number;
  writesLost: number;
  deletesAcked: number;
  deletesLost: number;
  otherViolations: number;
  inflightAtKill: number;
  inflightLanded: number;
  unexpectedAnswers: string[];
  integrity: string[];
  /** Keys whose state was checked after a restart (LOOPS × KEYS_PER_LOOP per round). */
  keysChecked: number;
  /** Crashes that left a non-empty -wal for the restart to recover. */
  walLeft: number;
}

let dir: string;
let cleanup: () => void;
let children: RunningServer[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir("datastore-crash-"));
});
afterEach(() => {
  for (const child of children) child.kill();
  children = [];
  cleanup();
});

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

async function serve(db: string, durability: string, key: string): Promise<RunningServer> {
  const server = await startServerProcess(["serve", "--port", "0", "--db", db, "--durability", durability], {
    env: cleanEnv({ DATASTORE_BOOTSTRAP_KEY: key }),
    timeoutMs: START_TIMEOUT_MS,
  });
  children.push(server);
  return server;
}

/** `PRAGMA integrity_check` of a database file (with its -wal, if any), opened read-write so the WAL is recovered. */
function integrityCheck(path: string): string {
  const sqlite = new Database(path);
  try {
    return sqlite
      .query<{ integrity_check: string }, []>("PRAGMA integrity_check")
      .all()
      .map((row) => row.integrity_check)
      .join("; ");
  } finally {
    sqlite.close();
  }
}

/** Copies the database and its -wal as the killed process left them, to check them without touching the originals. */
function copyCrashImage(db: string, label: string): string {
  const copy = join(dir, `${label}.db`);
  copyFileSync(db, copy);
  if (existsSync(`${db}-wal`)) copyFileSync(`${db}-wal`, `${copy}-wal`);
  return copy;
}

const client = (base: string, token: string) => apiClient(base, token, { timeoutMs: REQUEST_TIMEOUT_MS });

/**
 * One client loop: PUTs (a new value every time, carrying the key's sequence number) and
 * DELETEs (only of keys it knows are present) on its own keys, one request at a time, until a
 * request fails without an answer: the server is gone, and that operation stays in flight
 * (it may or may not have committed).
 */
async function driveLoop(keys: KeyState[], ns: string, round: number, api: ReturnType<typeof client>, totals: Totals) {
  for (;;) {
    const state = keys[randomInt(0, keys.length - 1)]!;
    const seq = ++state.seq;
    const op: Op =
      state.present && Math.random() < DELETE_SHARE
        ? { kind: "delete", seq }
        : { kind: "put", seq, value: { key: state.key, round, seq, pad: "x".repeat(randomInt(0, 2000)) } };
    state.inflight = op;
    let answer: Awaited<ReturnType<typeof api>>;
    try {
      answer =
        op.kind === "put"
          ? await api("PUT", "/api/v1/datastore/entries", { entry: { key: state.key, namespace: ns, value: op.value, description: `seq ${seq}` } })
          : await api("DELETE", `/api/v1/datastore/entries/${state.key}?namespace=${ns}`);
    } catch {
      return; // no answer: the outcome of `op` is unknown, it stays in flight
    }
    if (answer.status !== 200) {
      // Nothing else is expected from a healthy server; the test fails on it.
      totals.unexpectedAnswers.push(`round ${round}: ${op.kind} ${state.key} seq ${seq} → ${answer.status} ${answer.text.slice(0, 200)}`);
      return;
    }
    if (op.kind === "put") {
      op.entry = answer.json?.data;
      totals.writesAcked++;
    } else {
      totals.deletesAcked++;
    }
    state.acked = op;
    state.inflight = null;
    state.present = op.kind === "put";
  }
}

/** Every entry of namespace `ns`, read through the paginated listing. */
async function listNamespace(api: ReturnType<typeof client>, ns: string): Promise<Map<string, Entry>> {
  const found = new Map<string, Entry>();
  for (let page = 1; ; page++) {
    const answer = await api("GET", `/api/v1/datastore?namespace=${ns}&page_size=100&page=${page}`);
    expect(answer.status).toBe(200);
    for (const entry of answer.json.data as Entry[]) found.set(entry.key, entry);
    if (page >= answer.json.total_pages) return found;
  }
}

/** The entry at each key by GET (null for 404), a few requests at a time. */
async function getEach(api: ReturnType<typeof client>, ns: string, keys: string[]): Promise<Map<string, Entry | null>> {
  const found = new Map<string, Entry | null>();
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        const answer = await api("GET", `/api/v1/datastore/entries/${key}?namespace=${ns}`);
        if (answer.status !== 200 && answer.status !== 404) throw new Error(`GET ${key} answered ${answer.status}: ${answer.text}`);
        found.set(key, answer.status === 200 ? answer.json.data : null);
      }
    }),
  );
  return found;
}

/** Does the observed entry (null = absent) show the effect of `op` (null = never written)? */
function shows(observed: Entry | null, op: Op | null): boolean {
  if (op === null || op.kind === "delete") return observed === null;
  return observed !== null && Bun.deepEquals(observed.value, op.value) && observed.description === `seq ${op.seq}`;
}

/** Checks every key of a round after the restart; returns the violations found. */
function judgeRound(round: number, keys: KeyState[], listed: Map<string, Entry>, got: Map<string, Entry | null>, totals: Totals): Violation[] {
  const violations: Violation[] = [];
  const known = new Set(keys.map((k) => k.key));
  for (const key of listed.keys()) {
    if (!known.has(key)) violations.push({ round, key, problem: "entry never written", observed: listed.get(key), acked: null, inflight: null });
  }
  for (const state of keys) {
    totals.keysChecked++;
    const observed = got.get(state.key) ?? null;
    const report = (problem: Violation["problem"]) =>
      violations.push({ round, key: state.key, problem, observed, acked: state.acked, inflight: state.inflight });
    if (!Bun.deepEquals(listed.get(state.key) ?? null, observed)) report("get and list disagree");
    const landed = state.inflight !== null && shows(observed, state.inflight);
    if (state.inflight !== null) {
      totals.inflightAtKill++;
      if (landed && !shows(observed, state.acked)) totals.inflightLanded++;
    }
    if (landed) continue;
    if (!shows(observed, state.acked)) {
      if (state.acked === null) report("entry never written");
      else if (state.acked.kind === "put") (totals.writesLost++, report("acknowledged write lost"));
      else (totals.deletesLost++, report("acknowledged delete lost"));
      continue;
    }
    // The acknowledged PUT is what is there: the whole entry as it was answered (same id and timestamps).
    if (state.acked?.kind === "put" && state.acked.entry !== undefined && !Bun.deepEquals(observed, state.acked.entry)) report("entry changed");
  }
  totals.otherViolations += violations.filter((v) => v.problem !== "acknowledged write lost" && v.problem !== "acknowledged delete lost").length;
  return violations;
}

async function crashRounds(durability: "normal" | "full"): Promise<{ totals: Totals; violations: Violation[] }> {
  const db = join(dir, "datastore.db");
  const token = randomApiKey();
  const totals: Totals = {
    rounds: 0,
    writesAcked: 0,
    writesLost: 0,
    deletesAcked: 0,
    deletesLost: 0,
    otherViolations: 0,
    inflightAtKill: 0,
    inflightLanded: 0,
    unexpectedAnswers: [],
    integrity: [],
    walLeft: 0,
    keysChecked: 0,
  };
  const violations: Violation[] = [];
  /** What each earlier round's namespace held when it was checked: later crashes must not change it. */
  const settled = new Map<string, Map<string, Entry>>();

  let server = await serve(db, durability, token);
  for (let round = 0; round < ROUNDS; round++) {
    const ns = `round-${round}`;
    const api = client(server.url, token);
    const loops: KeyState[][] = Array.from({ length: LOOPS }, (_, loop) =>
      Array.from({ length: KEYS_PER_LOOP }, (_, k) => ({ key: `crash:${loop}/${k}`, seq: 0, acked: null, inflight: null, present: false })),
    );

    // Load, then SIGKILL at a random moment while every loop is still sending: each loop runs
    // until a request of its own fails, so each ends with an operation in flight (one the server
    // may have committed before dying, or one sent after).
    const running = Promise.all(loops.map((keys) => driveLoop(keys, ns, round, api, totals)));
    await Bun.sleep(randomInt(LOAD_MS[0], LOAD_MS[1]));
    server.proc.kill("SIGKILL");
    await server.exited(10_000);
    await withTimeout(running, REQUEST_TIMEOUT_MS + 5_000, "the client loops to finish after the kill");

    // The files exactly as the killed process left them must be a sound database.
    if (existsSync(`${db}-wal`) && statSync(`${db}-wal`).size > 0) totals.walLeft++;
    const image = copyCrashImage(db, `crash-${round}`);
    totals.integrity.push(integrityCheck(image));

    // Restart on the same file: every acknowledged operation must be there.
    server = await serve(db, durability, token);
    const restarted = client(server.url, token);
    const keys = loops.flat();
    const listed = await listNamespace(restarted, ns);
    const got = await getEach(restarted, ns, keys.map((k) => k.key));
    violations.push(...judgeRound(round, keys, listed, got, totals));
    settled.set(ns, listed);
    totals.rounds++;
  }

  // Earlier rounds' data went through every later crash and recovery unchanged.
  const api = client(server.url, token);
  for (const [ns, listed] of settled) {
    const now = await listNamespace(api, ns);
    if (!Bun.deepEquals(now, listed)) {
      violations.push({ round: -1, key: `(namespace ${ns})`, problem: "entry changed", observed: [...now.values()], acked: [...listed.values()], inflight: null });
      totals.otherViolations++;
    }
  }

  // A clean stop, then the file itself (WAL folded back) passes integrity_check.
  server.proc.kill("SIGTERM");
  expect(await server.exited(15_000)).toBe(0);
  expect(existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0).toBe(0);
  totals.integrity.push(integrityCheck(db));
  return { totals, violations };
}

/** An operation or entry in a few words (values carry up to 2 KB of padding). */
function brief(thing: unknown): string {
  if (thing === null || thing === undefined) return "absent";
  if (Array.isArray(thing)) return `${thing.length} entries`;
  const op = thing as Partial<Op & Entry>;
  if (op.kind === "delete") return `delete seq ${op.seq}`;
  if (op.kind === "put") return `put seq ${op.seq}`;
  return `entry ${op.id} seq ${(op.value as Value | undefined)?.seq} (${op.description}, updated ${op.updated_at})`;
}

const compact = (v: Violation) =>
  `round ${v.round} ${v.key}: ${v.problem}; observed ${brief(v.observed)}, acknowledged ${v.acked ? brief(v.acked) : "nothing"}, in flight ${v.inflight ? brief(v.inflight) : "nothing"}`;

function summary(durability: string, t: Totals) {
  const integrityOk = t.integrity.filter((result) => result === "ok").length;
  return (
    `crash --durability ${durability}: rounds ${t.rounds}, keys checked ${t.keysChecked}, writes acknowledged ${t.writesAcked}, acknowledged writes lost ${t.writesLost}, ` +
    `deletes acknowledged ${t.deletesAcked}, deletes lost ${t.deletesLost}, other violations ${t.otherViolations}, ` +
    `unexpected answers ${t.unexpectedAnswers.length}, in flight at kill ${t.inflightAtKill} (${t.inflightLanded} of them committed), crashes leaving a -wal to recover ${t.walLeft}/${t.rounds}, ` +
    `integrity ok ${integrityOk}/${t.integrity.length}`
  );
}

describe("acknowledged writes survive kill -9", () => {
  test.each(["normal", "full"] as const)(
    "--durability %s: after SIGKILL under concurrent PUT/DELETE load and a restart, every acknowledged PUT and DELETE holds and integrity_check is ok",
    async (durability) => {
      const { totals, violations } = await crashRounds(durability);
      console.log(summary(durability, totals));
      expect(totals.rounds).toBe(ROUNDS);
      expect(totals.unexpectedAnswers).toEqual([]);
      expect(violations.slice(0, 20).map(compact)).toEqual([]);
      expect(violations).toHaveLength(0);
      expect(totals.writesLost).toBe(0);
      expect(totals.deletesLost).toBe(0);
      expect(totals.integrity).toEqual(Array(ROUNDS + 1).fill("ok"));
      // The rounds did real work and were killed mid-flight, or they proved nothing.
      expect(totals.writesAcked).toBeGreaterThan(ROUNDS * 100);
      expect(totals.deletesAcked).toBeGreaterThan(0);
      expect(totals.inflightAtKill).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );
});
