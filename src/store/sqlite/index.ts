import type { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Store } from "../types";
import { createApiKeyStore } from "./api-keys";
import { createAuthCache } from "./auth-cache";
import { createEntryStore } from "./entries";
import { createOrganizationStore } from "./organizations";
import type { WriteQueueOptions } from "./write-queue";

export const DEFAULT_WRITE_QUEUE: WriteQueueOptions = { deadlineMs: 5000, retryMs: 10, maxBatch: 1000 };

/** The Store over one bun:sqlite database (already opened and migrated). */
export function createSqliteStore(sqlite: Database, writeQueue: WriteQueueOptions = DEFAULT_WRITE_QUEUE): Store {
  const db = drizzle({ client: sqlite });
  const cache = createAuthCache(sqlite);
  return {
    ...createEntryStore(sqlite, writeQueue),
    ...createOrganizationStore(db, cache),
    ...createApiKeyStore(db, sqlite, cache),
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
