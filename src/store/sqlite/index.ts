import type { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Store } from "../types";
import { createApiKeyStore } from "./api-keys";
import { createEntryStore } from "./entries";
import { createOrganizationStore } from "./organizations";

/** The Store over one bun:sqlite database (already opened and migrated). */
export function createSqliteStore(sqlite: Database): Store {
  const db = drizzle({ client: sqlite });
  return {
    ...createEntryStore(sqlite),
    ...createOrganizationStore(db),
    ...createApiKeyStore(db, sqlite),
    async ping() {
      sqlite.query("SELECT 1").get();
    },
    async close() {
      // Folds the WAL back into the main file, so a clean stop leaves no -wal needing recovery.
      sqlite.run("PRAGMA wal_checkpoint(TRUNCATE)");
      sqlite.close();
    },
  };
}
