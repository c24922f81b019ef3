import type { EntryRecord } from "../store/types";

const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, "0"));
const dayPrefixes = new Map<number, string>();

/**
 * ISO 8601 UTC with whole seconds: `2026-03-15T10:00:00Z`. A listing formats three per entry,
 * so the date part is computed once per day and the time of day by arithmetic.
 */
export function isoSeconds(seconds: number): string {
  const day = Math.floor(seconds / 86_400);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    if (dayPrefixes.size >= 4096) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  const time = seconds - day * 86_400;
  return `${prefix}${TWO_DIGITS[Math.floor(time / 3600)]}:${TWO_DIGITS[Math.floor(time / 60) % 60]}:${TWO_DIGITS[time % 60]}Z`;
}

const isoOrNull = (seconds: number | null) => (seconds === null ? "null" : `"${isoSeconds(seconds)}"`);

/**
 * The API JSON of an entry, fields in SPEC order; the organization is never exposed. Built as
 * text around the stored value's JSON so a value is never parsed and re-serialized on a read
 * (it was produced by JSON.stringify on write). id, key and namespace come from alphabets that
 * need no escaping.
 */
export function entryJson(entry: EntryRecord): string {
  return (
    `{"id":"${entry.id}","key":"${entry.key}","namespace":"${entry.namespace}","value":${entry.value},` +
    `"description":${entry.description === null ? "null" : JSON.stringify(entry.description)},` +
    `"expires_at":${isoOrNull(entry.expiresAt)},"created_at":${isoOrNull(entry.createdAt)},"updated_at":${isoOrNull(entry.updatedAt)}}`
  );
}

/** A 200 JSON response from text that is already JSON. */
export const jsonText = (text: string) => new Response(text, { headers: { "Content-Type": "application/json" } });

/** The `{"data": entry}` answer of the single-entry routes. */
export const entryResponse = (entry: EntryRecord) => jsonText(`{"data":${entryJson(entry)}}`);
