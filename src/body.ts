import { ApiError } from "./errors";

export const MAX_BODY_BYTES = 1024 * 1024;

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** True when the request says it carries a body at all. */
export function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  if (length !== null) return length !== "0";
  return request.headers.has("transfer-encoding") || request.body !== null;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export const mediaType = (contentType: string | null) => (contentType ?? "").split(";")[0]!.trim().toLowerCase();

/** A body the client stopped sending midway: answered 400 (to no one, usually), never logged as a bug. */
function clientGone(): never {
  throw ApiError.badRequest("Request body ended before it was complete");
}

/**
 * The body's chunks, counted as they arrive; null (and the stream cancelled) once they pass
 * MAX_BODY_BYTES, so an oversized body is never read whole. `keep: false` counts only.
 */
async function readCounted(body: ReadableStream<Uint8Array>, keep: boolean): Promise<Uint8Array[] | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read().catch(clientGone);
    if (done) return chunks;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return null;
    }
    if (keep) chunks.push(value);
  }
}

/** Whether the body is over the limit: by its declared length, or by counting a streamed one. */
export async function isOversized(request: Request): Promise<boolean> {
  const declared = request.headers.get("content-length");
  if (declared !== null) return Number(declared) > MAX_BODY_BYTES;
  return request.body !== null && (await readCounted(request.body, false)) === null;
}

/** Reads the body as text, refusing it with 413 once it passes MAX_BODY_BYTES. */
async function readLimited(request: Request): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > MAX_BODY_BYTES) throw ApiError.payloadTooLarge();
    return request.text().catch(clientGone);
  }
  if (!request.body) return "";
  const chunks = await readCounted(request.body, true);
  if (chunks === null) throw ApiError.payloadTooLarge();
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The request body as a JSON object, or 400/413 (SPEC §4). */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const text = await readLimited(request);
  if (text.trim() === "") throw ApiError.badRequest("Request body is required");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw ApiError.badRequest("Request body is not valid JSON");
  }
  if (!isJsonObject(parsed)) throw ApiError.badRequest("Request body must be a JSON object");
  return parsed;
}
