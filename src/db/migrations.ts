// Migrations are imported as text so that the source tree, the tests and the compiled
// executable read them the same way (the executable has no drizzle/ folder beside it).
// After `bun run db:generate`, add the new file here: test/migrate.test.ts fails until you do.
import journal from "../../drizzle/meta/_journal.json";
import m0000 from "../../drizzle/0000_init.sql" with { type: "text" };
import m0001 from "../../drizzle/0001_auth_epoch.sql" with { type: "text" };
import m0002 from "../../drizzle/0002_auth_epoch_triggers.sql" with { type: "text" };
import m0003 from "../../drizzle/0003_entries_expiring_index.sql" with { type: "text" };

export const migrationFiles: Record<string, string> = {
  "0000_init": m0000,
  "0001_auth_epoch": m0001,
  "0002_auth_epoch_triggers": m0002,
  "0003_entries_expiring_index": m0003,
};

export const migrationJournal: { entries: { tag: string; when: number }[] } = journal;
