// Issue 3, promise 7: oversized and slow clients, against the real server (`bun src/index.ts serve`).
// - a body over 1 MiB is refused with a JSON 413 without being read whole (declared or chunked);
// - a request line plus headers over 16 KiB gets Bun's own 431;
// - hundreds of half-open (slow-loris) connections do not slow down normal requests, and the server
//   closes them after its idle timeout (10 s), trickling bytes or not.
//
// One server serves the whole file. The slow-loris connections are opened as soon as it is up and
// are left hanging while the 413/431 tests run; the last test then waits for the server to close
// them, so the ~10 s idle timeout overlaps the rest and the file stays near 15 s.
// STRESS=1: 1,000 slow-loris connections instead of 300, more latency probes, a 500 MB upload.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, logLines, randomApiKey, sleep, startServerProcess, tempDir, withTimeout, type RunningServer } from "../process-helpers";

const STRESS = process.env.STRESS === "1";
const LORIS = STRESS ? 1000 : 300;
const PROBES = STRESS ? 200 : 40;
const UPLOAD_MB = STRESS ? 500 : 50;
const MiB = 1024 * 1024;
const TIMEOUT = 60_000;
const TOO_LARGE = { error: "Request body is larger than 1048576 bytes" };
const ENTRIES = "/api/v1/datastore/entries";

// ---------------------------------------------------------------------------------------------
// A raw TCP client (Bun.connect) that records when the answer and the close arrive, and how many
// bytes it had written by then.

interface RawClient {
  readonly openedAt: number;
  /** Bytes accepted by the socket so far. */
  readonly sent: number;
  /** performance.now() of the first answer byte / of the close (FIN or reset), or null. */
  readonly answerAt: number | null;
  readonly closedAt: number | null;
  /** `sent` at the moment the first answer byte arrived. */
  readonly sentAtAnswer: number | null;
  readonly received: string;
  /** Writes all of `data` (waiting out back-pressure); false if the connection closed first or `ms` passed. */
  write(data: string | Uint8Array, ms?: number): Promise<boolean>;
  /** Polls `check` until true (true) or `ms` passed (false). */
  waitFor(check: () => boolean, ms: number): Promise<boolean>;
  close(): void;
}

const openClients = new Set<RawClient>();

async function openRaw(port: number): Promise<RawClient> {
  const openedAt = performance.now();
  let sent = 0;
  let answerAt: number | null = null;
  let closedAt: number | null = null;
  let sentAtAnswer: number | null = null;
  let received = "";
  let wake: (() => void) | null = null;
  const notify = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const closed = () => {
    closedAt ??= performance.now();
    notify();
  };
  const socket = await withTimeout(
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_socket, chunk) {
          if (answerAt === null) {
            answerAt = performance.now();
            sentAtAnswer = sent;
          }
          if (received.length < 64 * 1024) received += Buffer.from(chunk).toString("latin1");
          notify();
        },
        drain: notify,
        end: closed,
        close: closed,
        error: closed,
      },
    }),
    5_000,
    "a TCP connection to the server",
  );
  const client: RawClient = {
    openedAt,
    get sent() {
      return sent;
    },
    get answerAt() {
      return answerAt;
    },
    get closedAt() {
      return closedAt;
    },
    get sentAtAnswer() {
      return sentAtAnswer;
    },
    get received() {
      return received;
    },
    async write(data, ms = 30_000) {
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      const deadline = performance.now() + ms;
      let offset = 0;
      while (offset < bytes.length) {
        if (closedAt !== null) return false;
        const written = socket.write(bytes.subarray(offset));
        if (written < 0) return false;
        offset += written;
        sent += written;
        if (offset < bytes.length) {
          if (performance.now() > deadline) return false;
          await pause(20);
        }
      }
      return true;
    },
    async waitFor(check, ms) {
      const deadline = performance.now() + ms;
      while (!check()) {
        if (performance.now() > deadline) return false;
        await pause(20);
      }
      return true;
    },
    close() {
      openClients.delete(client);
      socket.terminate();
    },
  };
  openClients.add(client);
  return client;
}

interface Answer {
  status: number | null;
  head: string;
  body: string;
}

/** The first HTTP answer in `text` (status null when there is none). */
function parseAnswer(text: string): Answer {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
  let body = end < 0 ? "" : text.slice(end + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) body = body.slice(0, Number(length[1]));
  return { status: status ? Number(status) : null, head, body: Buffer.from(body, "latin1").toString("utf8") };
}

/** Whether `text` holds one whole answer with a Content-Length (or a body-less one). */
function answerComplete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  return !length || text.length - end - 4 >= Number(length[1]);
}

// ---------------------------------------------------------------------------------------------
// The server process and what /proc says about it.

let server: RunningServer;
let key: string;
let cleanupDir: () => void;
let baselineFds = 0;

const procStatus = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8");
/** VmRSS and VmHWM (peak RSS) of the server, in bytes. */
function memory() {
  const status = procStatus(server.proc.pid);
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}
const openFds = () => readdirSync(`/proc/${server.proc.pid}/fd`).length;
const mb = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** A whole request on a fresh connection (Connection: close); status and milliseconds. */
async function freshRequest(method: string, path: string, body?: string): Promise<{ status: number | null; ms: number }> {
  const start = performance.now();
  const client = await openRaw(server.port);
  try {
    let head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n`;
    if (body !== undefined) head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    await client.write(head + "\r\n" + (body ?? ""), 5_000);
    const done = await client.waitFor(() => answerComplete(client.received) || client.closedAt !== null, 5_000);
    if (!done) throw new Error(`${method} ${path} got no answer within 5 s`);
    return { status: parseAnswer(client.received).status, ms: performance.now() - start };
  } finally {
    client.close();
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (ms: number) => Math.round(ms * 10) / 10;

// ---------------------------------------------------------------------------------------------
// Slow-loris connections: opened once the server is up, checked in the first and last tests.

type LorisKind = "connect only" | "partial request line" | "partial headers" | "headers dripped 1 byte / 2 s" | "body dripped 1 byte / 2 s" | "idle keep-alive";

interface Loris {
  kind: LorisKind;
  client: RawClient;
  /** When it last sent a byte. */
  lastByteAt: number;
}

let loris: Loris[] = [];
let dripTimer: Timer | undefined;

async function openLoris(count: number) {
  const partialHeaders = `PUT ${ENTRIES} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nX-Slow: `;
  const kinds: LorisKind[] = ["connect only", "partial request line", "partial headers", "headers dripped 1 byte / 2 s", "body dripped 1 byte / 2 s"];
  const first: Record<LorisKind, string> = {
    "connect only": "",
    "partial request line": "GET /api/v1/datas",
    "partial headers": partialHeaders,
    "headers dripped 1 byte / 2 s": partialHeaders,
    "body dripped 1 byte / 2 s": `PUT ${ENTRIES} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"entry":`,
    "idle keep-alive": "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
  };
  const all: LorisKind[] = [...Array.from({ length: count }, (_, i) => kinds[i % kinds.length]!), ...Array<LorisKind>(10).fill("idle keep-alive")];
  for (const kind of all) {
    const client = await openRaw(server.port);
    if (first[kind]) await client.write(first[kind], 5_000);
    loris.push({ kind, client, lastByteAt: performance.now() });
  }
  // The keep-alive ones got their answer and now stay silent.
  for (const { client } of loris.filter((entry) => entry.kind === "idle keep-alive")) {
    expect(await client.waitFor(() => answerComplete(client.received), 5_000)).toBe(true);
    expect(parseAnswer(client.received).status).toBe(200);
  }
  dripTimer = setInterval(() => {
    for (const entry of loris) {
      if (!entry.kind.includes("dripped") || entry.client.closedAt !== null) continue;
      void entry.client.write(entry.kind.startsWith("headers") ? "a" : " ", 1_000);
      entry.lastByteAt = performance.now();
    }
  }, 2_000);
}

const stillOpen = () => loris.filter((entry) => entry.client.closedAt === null).length;

beforeAll(async () => {
  const dir = tempDir("datastore-slow-");
  cleanupDir = dir.cleanup;
  key = randomApiKey();
  server = await startServerProcess(["serve", "--port", "0", "--db", join(dir.dir, "datastore.db")], {
    env: cleanEnv({ DATASTORE_BOOTSTRAP_KEY: key }),
    timeoutMs: 30_000,
  });
  await sleep(200);
  baselineFds = openFds();
  await openLoris(LORIS);
}, TIMEOUT);

afterAll(() => {
  clearInterval(dripTimer);
  for (const client of [...openClients]) client.close();
  server?.kill();
  cleanupDir?.();
});

// ---------------------------------------------------------------------------------------------

describe("slow-loris", () => {
  test(
    `with ${LORIS} half-open connections hanging, fresh clients are answered quickly`,
    async () => {
      // The server really holds them: one descriptor each. Not the "connect only" ones: Bun listens
      // with TCP_DEFER_ACCEPT, so a connection that has sent nothing waits in the kernel
      // (SYN_RECV on the server side) and costs the process nothing until its first byte.
      await sleep(300);
      expect(stillOpen()).toBe(loris.length);
      const sending = loris.filter((entry) => entry.kind !== "connect only").length;
      // (A few descriptors of the server's own come and go: a margin of 5.)
      expect(openFds()).toBeGreaterThanOrEqual(baselineFds + sending - 5);

      const latencies: number[] = [];
      for (let i = 0; i < PROBES; i++) {
        const { status, ms } =
          i % 4 === 3
            ? await freshRequest("PUT", ENTRIES, JSON.stringify({ entry: { key: `probe-${i}`, value: i } }))
            : i % 4 === 2
              ? await freshRequest("GET", "/healthz")
              : await freshRequest("GET", "/api/v1/datastore?page_size=5");
        expect(status).toBe(200);
        latencies.push(ms);
      }
      // Some at once, too.
      const parallel = await Promise.all(Array.from({ length: 20 }, () => freshRequest("GET", "/api/v1/datastore/namespaces")));
      for (const { status, ms } of parallel) {
        expect(status).toBe(200);
        latencies.push(ms);
      }
      latencies.sort((a, b) => a - b);
      const figures = { connections: loris.length, probes: latencies.length, p50_ms: round(percentile(latencies, 50)), p95_ms: round(percentile(latencies, 95)), max_ms: round(latencies.at(-1)!), server_fds: openFds() };
      console.log("slow-loris latency:", JSON.stringify(figures));
      expect(figures.p50_ms).toBeLessThan(250);
      expect(figures.max_ms).toBeLessThan(1_000);
      // They are not shed early either: every one is still open.
      expect(stillOpen()).toBe(loris.length);
    },
    TIMEOUT,
  );
});

describe("413: bodies over 1 MiB", () => {
  const putHead = (length: string) =>
    `PUT ${ENTRIES} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\n${length}\r\n`;

  test.each([MiB + 1, 2 * MiB, 100 * MiB])(
    "Content-Length: %d is answered with the JSON 413 before any body byte is sent",
    async (length) => {
      const client = await openRaw(server.port);
      try {
        const headers = putHead(`Content-Length: ${length}\r\n`);
        expect(await client.write(headers, 5_000)).toBe(true);
        expect(await client.waitFor(() => answerComplete(client.received), 5_000)).toBe(true);
        expect(client.sent).toBe(headers.length); // not one byte of the body
        const answer = parseAnswer(client.received);
        expect(answer.status).toBe(413);
        expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
        expect(JSON.parse(answer.body)).toEqual(TOO_LARGE);
        console.log(`413 for Content-Length ${length}: answered in ${round(client.answerAt! - client.openedAt)} ms with no body byte sent`);
      } finally {
        client.close();
      }
    },
    TIMEOUT,
  );

  // BUG (src/server.ts): Bun.serve keeps its default maxRequestBodySize (128 MiB) and answers a
  // larger declared Content-Length itself, with an empty non-JSON 413, before the app's own check.
  // SPEC §4 allows only 431 and a dropped connection to lack the JSON body. Setting
  // `maxRequestBodySize: Number.MAX_SAFE_INTEGER` lets the app's Content-Length check answer
  // (verified in a standalone Bun.serve: the app then sees Content-Length 200000000000).
  test.each([129 * MiB, 10 * 1024 * MiB])(
    "Content-Length: %d (over Bun's 128 MiB default) still gets the JSON 413",
    async (length) => {
      const client = await openRaw(server.port);
      try {
        await client.write(putHead(`Content-Length: ${length}\r\n`), 5_000);
        expect(await client.waitFor(() => answerComplete(client.received) || client.closedAt !== null, 5_000)).toBe(true);
        const answer = parseAnswer(client.received);
        expect(answer.status).toBe(413);
        expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
        expect(JSON.parse(answer.body || "null")).toEqual(TOO_LARGE);
      } finally {
        client.close();
      }
    },
    TIMEOUT,
  );

  /**
   * Streams `totalBytes` as 64 KiB chunks (bounded by `ms`), stopping early once `stop()` is true;
   * at most `bytesPerSecond` when given, else as fast as the socket takes them.
   */
  async function streamChunks(client: RawClient, totalBytes: number, stop: () => boolean, ms: number, bytesPerSecond?: number) {
    const frame = Buffer.from(`10000\r\n${"x".repeat(64 * 1024)}\r\n`, "latin1");
    const start = performance.now();
    const deadline = start + ms;
    let payload = 0;
    while (payload < totalBytes && !stop() && performance.now() < deadline) {
      if (!(await client.write(frame, Math.max(1, deadline - performance.now())))) break;
      payload += 64 * 1024;
      if (bytesPerSecond) {
        const due = start + (payload / bytesPerSecond) * 1000;
        if (due > performance.now()) await sleep(due - performance.now());
      }
    }
    return payload;
  }

  test(
    `a ${UPLOAD_MB} MB chunked body is answered 413 after about 1 MiB, long before it is sent, and the server's memory does not grow`,
    async () => {
      const before = memory();
      const client = await openRaw(server.port);
      try {
        await client.write(putHead("Transfer-Encoding: chunked\r\n") + `11\r\n{"entry":{"key":"\r\n`, 5_000);
        const start = performance.now();
        // At 32 MB/s, so that when the answer comes says how much the server had taken: at wire
        // speed the drain after the answer (see the next test) would blur it.
        const streamed = await streamChunks(client, UPLOAD_MB * 1e6, () => client.answerAt !== null || client.closedAt !== null, 30_000, 32e6);
        const ended = performance.now();
        expect(await client.waitFor(() => answerComplete(client.received) || client.closedAt !== null, 5_000)).toBe(true);
        const answer = parseAnswer(client.received);
        if (answer.status !== null) {
          expect(answer.status).toBe(413);
          expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
          expect(JSON.parse(answer.body)).toEqual(TOO_LARGE);
        }
        await sleep(200);
        const after = memory();
        const stoppedAt = client.sentAtAnswer ?? client.sent;
        const figures = {
          upload_mb: UPLOAD_MB,
          status: answer.status,
          sent_when_answered_mb: mb(stoppedAt),
          answered_after_ms: round((client.answerAt ?? client.closedAt ?? ended) - start),
          streamed_mb: mb(streamed),
          rss_before_mb: mb(before.rss),
          rss_after_mb: mb(after.rss),
          rss_growth_mb: mb(after.rss - before.rss),
          peak_rss_growth_mb: mb(after.peak - before.peak),
        };
        console.log("oversized chunked upload:", JSON.stringify(figures));
        // Answered (or cut off) after ~1 MiB plus what the socket buffers held and what arrived
        // while the answer was made: far from the whole upload.
        expect(client.answerAt ?? client.closedAt).not.toBeNull();
        expect(stoppedAt).toBeLessThan(16 * MiB);
        // Nothing like the upload was buffered.
        expect(after.peak - before.peak).toBeLessThan(16 * MiB);
        expect(after.rss - before.rss).toBeLessThan(16 * MiB);
      } finally {
        client.close();
      }
      expect((await freshRequest("GET", "/healthz")).status).toBe(200);
    },
    TIMEOUT,
  );

  // BUG (Bun's default after an early answer; fix where the 413 is built, src/errors.ts): after
  // the 413 the connection stays open and Bun reads and discards the rest of the body, declared
  // or chunked, however long: a client can push gigabytes into a server that answered at 1 MiB
  // (2 GB of chunks in 1.3 s seen), so an oversized body *is* read whole, only not buffered
  // (issue 3: "refused with 413 without reading them whole"). A declared body the client never
  // sends holds the connection until the idle timeout. Sending `Connection: close` with the 413
  // makes Bun close the connection right after the answer (verified in a standalone Bun.serve:
  // 4 MiB of chunks accepted in all, then closed).
  test.each(["Content-Length: 104857600", "Transfer-Encoding: chunked"])(
    "after the 413 to a body sent with %s the server stops reading it (closes instead of draining)",
    async (framing) => {
      const chunked = framing.startsWith("Transfer-Encoding");
      const client = await openRaw(server.port);
      try {
        await client.write(putHead(`${framing}\r\n`) + (chunked ? `11\r\n{"entry":{"key":"\r\n` : ""), 5_000);
        if (chunked) await streamChunks(client, 200 * MiB, () => client.answerAt !== null || client.closedAt !== null, 20_000);
        expect(await client.waitFor(() => answerComplete(client.received), 5_000)).toBe(true);
        expect(parseAnswer(client.received).status).toBe(413);
        const atAnswer = client.sent;
        // Keep sending the body: a server that stopped reading closes (or stops taking bytes)
        // long before another 64 MiB have gone in.
        let more = 0;
        if (chunked) more = await streamChunks(client, 64 * MiB, () => client.closedAt !== null, 10_000);
        else {
          const block = Buffer.alloc(64 * 1024, 0x20);
          const deadline = performance.now() + 10_000;
          while (more < 64 * MiB && client.closedAt === null && performance.now() < deadline) {
            if (!(await client.write(block, Math.max(1, deadline - performance.now())))) break;
            more += block.length;
          }
        }
        console.log(`after the 413 (${framing}): ${mb(more)} MB more accepted, connection ${client.closedAt === null ? "still open" : "closed"} (answer at ${mb(atAnswer)} MB sent)`);
        expect(more).toBeLessThan(64 * MiB);
      } finally {
        client.close();
      }
    },
    TIMEOUT,
  );
});

describe("431: request line and headers over 16 KiB", () => {
  /** A GET /healthz whose request line plus headers (final CRLF CRLF included) are exactly `size` bytes. */
  function headOfSize(size: number) {
    const bare = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: \r\n\r\n";
    return `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${"p".repeat(size - bare.length)}\r\n\r\n`;
  }

  async function send(head: string) {
    const client = await openRaw(server.port);
    try {
      await client.write(head, 5_000);
      expect(await client.waitFor(() => answerComplete(client.received) || client.closedAt !== null, 5_000)).toBe(true);
      const answer = parseAnswer(client.received);
      const closed = await client.waitFor(() => client.closedAt !== null, answer.status === 431 ? 5_000 : 0);
      return { ...answer, closed };
    } finally {
      client.close();
    }
  }

  test(
    "a head of exactly 16 KiB is served; one byte more gets Bun's 431 and the connection is closed",
    async () => {
      expect(headOfSize(16 * 1024)).toHaveLength(16 * 1024);
      const fits = await send(headOfSize(16 * 1024));
      expect(fits.status).toBe(200);
      expect(JSON.parse(fits.body)).toEqual({ status: "ok" });
      const over = await send(headOfSize(16 * 1024 + 1));
      expect(over.status).toBe(431);
      expect(over.closed).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "many small headers adding up to 20 KB, and a 17 KiB URL, get 431 too; the server keeps serving",
    async () => {
      const many = `GET /api/v1/datastore HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\n` + Array.from({ length: 400 }, (_, i) => `X-H${i}: ${"b".repeat(40)}\r\n`).join("") + "\r\n";
      expect((await send(many)).status).toBe(431);
      const url = `GET ${ENTRIES}/${"k".repeat(17 * 1024)} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\n\r\n`;
      expect((await send(url)).status).toBe(431);
      expect((await freshRequest("GET", "/api/v1/datastore")).status).toBe(200);
    },
    TIMEOUT,
  );

  test(
    "an endless header is cut off with 431 after about 16 KiB, not read whole",
    async () => {
      const client = await openRaw(server.port);
      try {
        await client.write(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Flood: `, 5_000);
        const chunk = "f".repeat(64 * 1024);
        const deadline = performance.now() + 20_000;
        while (client.sent < 64 * MiB && client.closedAt === null && performance.now() < deadline) {
          if (!(await client.write(chunk, 5_000))) break;
        }
        expect(await client.waitFor(() => client.closedAt !== null, 5_000)).toBe(true);
        expect(parseAnswer(client.received).status).toBe(431);
        console.log(`endless header: 431 after ${mb(client.sentAtAnswer!)} MB sent, closed after ${mb(client.sent)} MB`);
        expect(client.sent).toBeLessThan(24 * MiB);
      } finally {
        client.close();
      }
    },
    TIMEOUT,
  );
});

describe("idle timeout", () => {
  test(
    "the server closes every half-open, trickling and idle connection after its idle timeout (~10 s)",
    async () => {
      // Bun's idleTimeout is 10 s, checked on a coarse timer: expect the close between 7 and 20 s
      // after the connection opened, for the trickling ones too (a byte every 2 s does not extend it).
      const deadline = Math.max(...loris.map((entry) => entry.client.openedAt)) + 25_000;
      while (stillOpen() > 0 && performance.now() < deadline) await sleep(100);
      const byKind = new Map<LorisKind, number[]>();
      for (const entry of loris) {
        if (entry.client.closedAt === null) continue;
        const list = byKind.get(entry.kind) ?? [];
        list.push((entry.client.closedAt - entry.client.openedAt) / 1000);
        byKind.set(entry.kind, list);
      }
      const figures = Object.fromEntries(
        [...byKind].map(([kind, seconds]) => [kind, { closed: seconds.length, min_s: round(Math.min(...seconds)), max_s: round(Math.max(...seconds)) }]),
      );
      console.log(`idle close (${loris.length} connections):`, JSON.stringify(figures));
      expect(stillOpen()).toBe(0);
      for (const entry of loris) {
        const seconds = (entry.client.closedAt! - entry.client.openedAt) / 1000;
        expect(seconds).toBeGreaterThanOrEqual(7);
        expect(seconds).toBeLessThanOrEqual(20);
        // None of them ever got an answer, except the keep-alive ones (their one 200).
        if (entry.kind !== "idle keep-alive") expect(entry.client.received).toBe("");
      }
      // The trickling ones were sending right up to the end.
      const dripping = loris.filter((entry) => entry.kind.includes("dripped"));
      expect(dripping.length).toBeGreaterThan(0);
      for (const entry of dripping) expect(entry.client.closedAt! - entry.lastByteAt).toBeLessThan(4_000);

      // The server's descriptors go back to where they were, and it still answers.
      const settled = await (async () => {
        for (let i = 0; i < 50; i++) {
          if (openFds() <= baselineFds + 5) return true;
          await sleep(100);
        }
        return false;
      })();
      console.log(`server descriptors: ${baselineFds} before, ${openFds()} after the idle close`);
      expect(settled).toBe(true);
      expect((await freshRequest("GET", "/api/v1/datastore")).status).toBe(200);
      expect(server.proc.exitCode).toBeNull();
      // Requests cut off mid-body (the dripped ones reached the app) are not logged as failures.
      expect(logLines(server.stderr()).filter((line) => line.level === "error")).toEqual([]);
    },
    TIMEOUT,
  );
});
