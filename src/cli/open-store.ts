import { resolveDbPath, type Env } from "../config";
import { openDatabase } from "../db/client";
import { migrate } from "../db/migrate";
import { createSqliteStore } from "../store/sqlite";
import type { Store } from "../store/types";

/** Runs `work` against the migrated store of --db / DATASTORE_DB, closing it afterwards. */
export async function withStore<T>(dbFlag: string | undefined, env: Env, work: (store: Store) => Promise<T>): Promise<T> {
  const sqlite = openDatabase(resolveDbPath(dbFlag, env));
  migrate(sqlite);
  const store = createSqliteStore(sqlite);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
