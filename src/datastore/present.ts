import type { EntryRecord } from "../store/types";

/** ISO 8601 UTC with whole seconds: `2026-03-15T10:00:00Z`. */
export const isoSeconds = (seconds: number) => new Date(seconds * 1000).toISOString().replace(".000Z", "Z");

/** The API shape of an entry, fields in SPEC order; the organization is never exposed. */
export function presentEntry(entry: EntryRecord) {
  return {
    id: entry.id,
    key: entry.key,
    namespace: entry.namespace,
    value: JSON.parse(entry.value) as unknown,
    description: entry.description,
    expires_at: entry.expiresAt === null ? null : isoSeconds(entry.expiresAt),
    created_at: isoSeconds(entry.createdAt),
    updated_at: isoSeconds(entry.updatedAt),
  };
}
