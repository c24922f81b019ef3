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

/**
 * Reads the body as text, refusing it with 413 once it passes MAX_BODY_BYTES: a declared
 * length is checked before reading; a chunked body is counted as it arrives and the stream
 * cancelled, so an oversized body is never buffered whole.
 */
async function readLimited(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > MAX_BODY_BYTES) throw new ApiError("payloadTooLarge");
  if (!Number.isNaN(declared) || !request.body) return request.text();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new ApiError("payloadTooLarge");
    }
    chunks.push(value);
  }
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
