import type { Database } from "bun:sqlite";
import { migrationFiles, migrationJournal } from "./migrations";

export interface Migration {
  tag: string;
  /** drizzle-kit's timestamp for the migration; also what drizzle records as created_at. */
  when: number;
  hash: string;
  statements: string[];
}

/** The embedded migrations in the order drizzle-kit generated them. */
export function embeddedMigrations(): Migration[] {
  return migrationJournal.entries.map(({ tag, when }) => {
    const sqlText = migrationFiles[tag];
    if (sqlText === undefined) throw new Error(`migration ${tag} is in the journal but not embedded`);
    return {
      tag,
      when,
      hash: new Bun.CryptoHasher("sha256").update(sqlText).digest("hex"),
      statements: sqlText.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean),
    };
  });
}

export class NewerDatabaseError extends Error {}

/**
 * Applies pending migrations, all in one transaction (an upgrade is all or nothing), and records them in drizzle's own
 * bookkeeping table (`__drizzle_migrations`, same columns and hash), so drizzle-kit and this
 * runner agree on what has been applied. Refuses a database migrated by a newer release.
 * Returns the tags it applied.
 */
export function migrate(sqlite: Database, migrations = embeddedMigrations()): string[] {
  // One write transaction, taken up front: two processes opening a new database at once (the
  // CLI and `serve`, or two workers) cannot both see a migration as pending.
  return sqlite.transaction(() => {
    sqlite.run(
      `CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)`,
    );
    const applied = new Set(sqlite.query<{ hash: string }, []>(`SELECT hash FROM "__drizzle_migrations"`).all().map((row) => row.hash));
    const known = new Set(migrations.map((m) => m.hash));
    const unknown = [...applied].filter((hash) => !known.has(hash));
    if (unknown.length > 0) {
      throw new NewerDatabaseError(
        `the database has ${unknown.length} migration(s) this release does not know: it was written by a newer release of datastore; upgrade the executable`,
      );
    }
    const record = sqlite.query(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`);
    const pending = migrations.filter((migration) => !applied.has(migration.hash));
    for (const migration of pending) {
      for (const statement of migration.statements) sqlite.run(statement);
      record.run(migration.hash, migration.when);
    }
    return pending.map((migration) => migration.tag);
  }).immediate();
}
