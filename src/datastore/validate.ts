import { TypeCompiler } from "@sinclair/typebox/compiler";
import { isJsonObject } from "../body";
import { addFieldError, ApiError, fieldErrors, type FieldErrors } from "../errors";
import type { EntryWrite } from "../store/types";
import { DEFAULT_NAMESPACE, EntryInput, MAX_DESCRIPTION_CHARS, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, MESSAGES } from "./model";

const checkInput = TypeCompiler.Compile(EntryInput);

// URL clients and servers collapse `.` and `..` path segments, so such a key could never be
// read back by its raw path (SPEC §1).
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

/**
 * One walk over the value, before it is serialized: nesting deeper than MAX_VALUE_DEPTH (Bun's
 * JSON.stringify takes seconds on a value nested tens of thousands deep, stalling every
 * request), or a number that is ±Infinity (what JSON.parse makes of `1e400`).
 */
function inspectValue(value: unknown): string | null {
  const pending: [unknown, number][] = [[value, 0]];
  let nonFinite = false;
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item === "number") nonFinite ||= !Number.isFinite(item);
    if (typeof item !== "object" || item === null) continue;
    if (depth >= MAX_VALUE_DEPTH) return MESSAGES.valueDepth;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return nonFinite ? MESSAGES.valueNumber : null;
}

/** The value's JSON text, or an error message for the value field. */
function serializeValue(value: unknown): { json: string } | { error: string } {
  if (value === undefined || value === null) return { error: MESSAGES.value };
  const error = inspectValue(value);
  if (error !== null) return { error };
  const json = JSON.stringify(value);
  if (Buffer.byteLength(json) > MAX_VALUE_BYTES) return { error: MESSAGES.valueSize };
  return { json };
}

/** Over the limit in code points (SPEC counts characters, not UTF-16 units). */
const tooLong = (text: string) => text.length > MAX_DESCRIPTION_CHARS && [...text].length > MAX_DESCRIPTION_CHARS;

/**
 * Checks a PUT body against the entry schema and the rules a schema cannot say (value size
 * in bytes, description length in code points, finite numbers, dot segments), reporting
 * every invalid field at once; returns the write to store.
 */
export function parseUpsertBody(body: Record<string, unknown>): EntryWrite {
  const entry = body.entry;
  if (!isJsonObject(entry)) throw ApiError.badRequest('Request body must have an "entry" object');
  const errors: FieldErrors = checkInput.Check(entry) ? {} : fieldErrors([...checkInput.Errors(entry)]);
  const add = (field: string, message: string) => addFieldError(errors, field, message);

  if (typeof entry.key === "string" && DOT_SEGMENT.test(entry.key)) add("key", MESSAGES.dotSegment);
  const value = serializeValue(entry.value);
  if ("error" in value) add("value", value.error);
  const description = entry.description ?? null;
  if (typeof description === "string" && tooLong(description)) add("description", MESSAGES.description);
  if (typeof description === "string" && !description.isWellFormed()) add("description", MESSAGES.unicode);

  if (Object.keys(errors).length > 0 || "error" in value) throw ApiError.validation(errors);
  return {
    key: entry.key as string,
    namespace: (entry.namespace as string | undefined) ?? DEFAULT_NAMESPACE,
    value: value.json,
    description: description as string | null,
    ttlSeconds: (entry.ttl_seconds as number | null | undefined) ?? null,
  };
}
