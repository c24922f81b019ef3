// Support for the HTTP fuzz test: request bodies that are materialized only when sent (a 10 MB
// body is a description until then), a raw HTTP/1.1 client over Bun.connect that can send any
// bytes (lying Content-Length, truncated bodies, half-closed sockets, malformed request lines),
// and the judgement of one answer against SPEC §4 ("every error is JSON with an error string").

/** A request body, kept as a small description so fast-check can print and shrink it. */
export type BodySpec =
  | { kind: "text"; text: string } // sent as UTF-8
  | { kind: "bytes"; hex: string } // sent as these exact bytes (invalid UTF-8, NUL, …)
  | { kind: "repeat"; unit: string; count: number } // unit.repeat(count) as UTF-8, streamed
  | { kind: "concat"; parts: BodySpec[] };

export const text = (value: string): BodySpec => ({ kind: "text", text: value });
export const bytes = (value: Uint8Array | number[]): BodySpec => ({ kind: "bytes", hex: Buffer.from(value).toString("hex") });
export const repeat = (unit: string, count: number): BodySpec => ({ kind: "repeat", unit, count });
export const concat = (...parts: BodySpec[]): BodySpec => ({ kind: "concat", parts });

export function bodyLength(spec: BodySpec): number {
  switch (spec.kind) {
    case "text":
      return Buffer.byteLength(spec.text);
    case "bytes":
      return spec.hex.length / 2;
    case "repeat":
      return Buffer.byteLength(spec.unit) * spec.count;
    case "concat":
      return spec.parts.reduce((sum, part) => sum + bodyLength(part), 0);
  }
}

const CHUNK = 64 * 1024;

/** The body's bytes, in chunks of at most 64 KiB, produced lazily. */
export function* bodyChunks(spec: BodySpec): Generator<Uint8Array> {
  switch (spec.kind) {
    case "text":
      for (let offset = 0, all = Buffer.from(spec.text); offset < all.length; offset += CHUNK) yield all.subarray(offset, offset + CHUNK);
      return;
    case "bytes":
      if (spec.hex.length > 0) yield Buffer.from(spec.hex, "hex");
      return;
    case "repeat": {
      const unit = Buffer.from(spec.unit);
      if (unit.length === 0 || spec.count === 0) return;
      const perChunk = Math.max(1, Math.floor(CHUNK / unit.length));
      const block = Buffer.from(spec.unit.repeat(Math.min(perChunk, spec.count)));
      let left = spec.count;
      while (left > 0) {
        const n = Math.min(perChunk, left);
        yield n === perChunk || n * unit.length === block.length ? block : block.subarray(0, n * unit.length);
        left -= n;
      }
      return;
    }
    case "concat":
      for (const part of spec.parts) yield* bodyChunks(part);
  }
}

/** The whole body in memory (only for bodies small enough to inspect). */
export function bodyBytes(spec: BodySpec): Buffer {
  return Buffer.concat([...bodyChunks(spec)]);
}

/** A short, printable description of a body for reports. */
export function describeBody(spec: BodySpec | undefined, max = 300): string {
  if (!spec) return "(none)";
  const length = bodyLength(spec);
  if (spec.kind === "repeat") return `${JSON.stringify(spec.unit.slice(0, 40))} × ${spec.count} (${length} bytes)`;
  if (spec.kind === "concat") return spec.parts.map((part) => describeBody(part, 120)).join(" + ");
  const all = bodyBytes(spec);
  const shown = JSON.stringify(all.subarray(0, max).toString("latin1"));
  return `${shown}${length > max ? `… (${length} bytes)` : ""}${spec.kind === "bytes" ? ` [hex ${spec.hex.slice(0, 120)}${spec.hex.length > 120 ? "…" : ""}]` : ""}`;
}

/** Lower-cased header names, raw values, in the order received. */
export type HeaderList = [string, string][];

export interface Answer {
  /** The final (non-1xx) status, or null when the connection closed (or timed out) without one. */
  status: number | null;
  statusLine: string;
  headers: HeaderList;
  body: Buffer;
  /** A whole answer was read (head and body as its framing says). */
  complete: boolean;
  /** The server closed (or half-closed) the connection. */
  closedByServer: boolean;
  /** Nothing ended the exchange within the time limit. */
  timedOut: boolean;
  /** 1xx interim answers seen before the final one. */
  interim: number[];
  ms: number;
  /** Bytes of the request actually written. */
  bytesSent: number;
  transport: "raw" | "fetch";
  error?: string;
}

export const header = (answer: { headers: HeaderList }, name: string) => answer.headers.find(([key]) => key === name)?.[1];

interface Parsed {
  complete: boolean;
  status: number | null;
  statusLine: string;
  headers: HeaderList;
  body: Buffer;
  interim: number[];
}

/** Decodes a chunked body from `data`; null while incomplete. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", offset);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(offset, lineEnd).toString("latin1").split(";")[0]!.trim(), 16);
    if (!Number.isFinite(size)) return Buffer.concat(parts); // malformed: take what there is
    if (size === 0) return data.indexOf("\r\n", lineEnd + 2) >= 0 ? Buffer.concat(parts) : null;
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

/** Parses the first final answer in `data`; `eof` says the server closed the connection. */
export function parseAnswer(data: Buffer, headRequest: boolean, eof: boolean): Parsed {
  const interim: number[] = [];
  let offset = 0;
  for (;;) {
    const end = data.indexOf("\r\n\r\n", offset);
    if (end < 0) {
      const partial = data.subarray(offset).toString("latin1");
      const status = /^HTTP\/\d\.\d (\d{3})/.exec(partial);
      return { complete: false, status: status ? Number(status[1]) : null, statusLine: partial.split("\r\n")[0] ?? "", headers: [], body: Buffer.alloc(0), interim };
    }
    const head = data.subarray(offset, end).toString("latin1");
    const [statusLine = "", ...lines] = head.split("\r\n");
    const match = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
    const status = match ? Number(match[1]) : null;
    const headers: HeaderList = lines.map((line) => {
      const colon = line.indexOf(":");
      return colon < 0 ? [line.trim().toLowerCase(), ""] : [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    });
    const bodyStart = end + 4;
    if (status !== null && status >= 100 && status < 200) {
      interim.push(status);
      offset = bodyStart;
      continue;
    }
    const base = { status, statusLine, headers, interim };
    if (headRequest || status === 204 || status === 304) return { ...base, complete: true, body: Buffer.alloc(0) };
    const transferEncoding = headers.find(([name]) => name === "transfer-encoding")?.[1];
    const contentLength = headers.find(([name]) => name === "content-length")?.[1];
    const rest = data.subarray(bodyStart);
    if (transferEncoding && /chunked/i.test(transferEncoding)) {
      const body = dechunk(rest);
      return { ...base, complete: body !== null, body: body ?? rest };
    }
    if (contentLength !== undefined) {
      const length = Number(contentLength);
      return { ...base, complete: rest.length >= length, body: rest.subarray(0, length) };
    }
    return { ...base, complete: eof, body: rest };
  }
}

export interface RawRequest {
  port: number;
  head: Uint8Array;
  body?: Iterable<Uint8Array>;
  /** Shut down our sending side once everything is written (a client that gave up). */
  halfClose?: boolean;
  /** The request was a HEAD: the answer has no body whatever its Content-Length says. */
  headRequest?: boolean;
  timeoutMs: number;
}

/**
 * Sends raw bytes over one fresh TCP connection to 127.0.0.1 and reads the first final answer.
 * Never rejects: a refused/reset connection is an answer with status null. Bounded by timeoutMs.
 */
export function sendRaw(request: RawRequest): Promise<Answer> {
  const started = performance.now();
  return new Promise<Answer>((resolve) => {
    let data = Buffer.alloc(0);
    let settled = false;
    let closed = false;
    let socket: Bun.Socket<undefined> | undefined;
    let bytesSent = 0;
    let pending: Uint8Array | null = null;
    let writingDone = false;
    const chunks = (function* () {
      yield request.head;
      if (request.body) yield* request.body;
    })();

    const finish = (extra: Partial<Answer> = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const parsed = parseAnswer(data, request.headRequest ?? false, closed);
      try {
        socket?.end();
      } catch {}
      resolve({
        ...parsed,
        status: parsed.complete || parsed.status !== null ? parsed.status : null,
        closedByServer: closed,
        timedOut: false,
        ms: performance.now() - started,
        bytesSent,
        transport: "raw",
        ...extra,
      });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), request.timeoutMs);

    const pump = (s: Bun.Socket<undefined>) => {
      while (!settled && !closed) {
        if (pending === null) {
          const next = chunks.next();
          if (next.done) {
            if (!writingDone) {
              writingDone = true;
              if (request.halfClose) s.shutdown();
            }
            return;
          }
          pending = next.value;
          if (pending.length === 0) {
            pending = null;
            continue;
          }
        }
        const written = s.write(pending);
        if (written < 0) return;
        bytesSent += written;
        if (written < pending.length) {
          pending = pending.subarray(written);
          return; // wait for drain
        }
        pending = null;
      }
    };

    Bun.connect({
      hostname: "127.0.0.1",
      port: request.port,
      socket: {
        open(s) {
          socket = s;
          pump(s);
        },
        drain(s) {
          pump(s);
        },
        data(_s, chunk) {
          data = data.length === 0 ? Buffer.from(chunk) : Buffer.concat([data, chunk]);
          if (parseAnswer(data, request.headRequest ?? false, false).complete) finish();
        },
        end() {
          closed = true;
          finish();
        },
        close() {
          closed = true;
          finish();
        },
        error(_s, error) {
          closed = true;
          finish({ error: String(error) });
        },
        connectError(_s, error) {
          closed = true;
          finish({ error: `connect: ${error}` });
        },
      },
    }).catch((error) => {
      closed = true;
      finish({ error: `connect: ${error}` });
    });
  });
}

/** The same judgement inputs from fetch (keep-alive connections, Bun's own client framing). */
export async function sendFetch(url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await response.arrayBuffer());
    const headers: HeaderList = [...response.headers].map(([name, value]) => [name.toLowerCase(), value]);
    return {
      status: response.status,
      statusLine: `HTTP/1.1 ${response.status} ${response.statusText}`,
      headers,
      body,
      complete: true,
      closedByServer: false,
      timedOut: false,
      interim: [],
      ms: performance.now() - started,
      bytesSent: -1,
      transport: "fetch",
    };
  } catch (error) {
    const timedOut = (error as Error)?.name === "TimeoutError";
    return {
      status: null,
      statusLine: "",
      headers: [],
      body: Buffer.alloc(0),
      complete: false,
      closedByServer: !timedOut,
      timedOut,
      interim: [],
      ms: performance.now() - started,
      bytesSent: -1,
      transport: "fetch",
      error: String(error),
    };
  }
}

/**
 * Bun's own HTTP parser refuses malformed framing before any app code runs, with a bare answer:
 * a status line, `Connection: close`, no Content-Type and no body (431, 400, 505).
 */
export function isBareParserAnswer(answer: Answer): boolean {
  return (
    answer.status !== null &&
    answer.body.length === 0 &&
    header(answer, "content-type") === undefined &&
    header(answer, "connection")?.toLowerCase() === "close" &&
    answer.headers.every(([name]) => name === "connection" || name === "content-length" || name === "date")
  );
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
export const mediaTypeOf = (value: string | undefined) => (value ?? "").split(";")[0]!.trim().toLowerCase();

/**
 * What is wrong with an error answer by SPEC §4, or null: Content-Type application/json and a
 * JSON object body with an "error" string (a HEAD answer has no body to check).
 */
export function errorShapeProblem(answer: Answer, headRequest: boolean): string | null {
  if (mediaTypeOf(header(answer, "content-type")) !== "application/json") return `Content-Type is ${JSON.stringify(header(answer, "content-type") ?? null)}, not application/json`;
  if (headRequest) return null;
  let json: unknown;
  try {
    json = JSON.parse(answer.body.toString("utf8"));
  } catch {
    return `body is not JSON: ${JSON.stringify(answer.body.subarray(0, 200).toString("latin1"))}`;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "body is not a JSON object";
  if (typeof (json as { error?: unknown }).error !== "string") return 'body has no "error" string';
  return null;
}

/** A printable dump of what was received. */
export function describeAnswer(answer: Answer): string {
  if (answer.timedOut) return `no answer within the time limit (${Math.round(answer.ms)} ms; ${answer.bytesSent} bytes sent)`;
  if (answer.status === null) return `connection closed without an answer (${answer.error ?? "closed"}; ${answer.bytesSent} bytes sent)`;
  const head = [answer.statusLine, ...answer.headers.filter(([name]) => name !== "date").map(([name, value]) => `${name}: ${value}`)].join(" | ");
  return `${head} || ${JSON.stringify(answer.body.subarray(0, 400).toString("utf8"))}${answer.complete ? "" : " (incomplete)"}`;
}
