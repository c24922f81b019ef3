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

/**
 * Live entries among the rows matching `where`, counted from indexes only: every row (a range
 * of the unique index) minus the expired ones (a range of the partial index over rows with an
 * expiry). Counting `LIVE` directly would read every row for its expires_at.
 */
export const countLiveSql = (where: string) =>
  `SELECT (SELECT count(*) FROM entries WHERE ${where}) -
          (SELECT count(*) FROM entries WHERE ${where} AND expires_at IS NOT NULL AND expires_at <= $now) AS n`;
