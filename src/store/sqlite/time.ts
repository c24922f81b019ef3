/** Whole seconds for a millisecond clock reading, as rows store them. */
export const toSeconds = (ms: number) => Math.floor(ms / 1000);

/**
 * SQL condition for a live entry, with the current second bound as `$now`: live until
 * now >= expires_at. With whole-second expiries, `now_ms < expires_at * 1000` is the same as
 * `floor(now_ms / 1000) < expires_at`.
 */
export const LIVE = "(expires_at IS NULL OR expires_at > $now)";

/** The entry columns, named as EntryRecord names them. */
export const ENTRY_COLUMNS =
  "id, namespace, key, value, description, expires_at AS expiresAt, created_at AS createdAt, updated_at AS updatedAt";
