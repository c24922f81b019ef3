// Migrations are imported as text so that the source tree, the tests and the compiled
// executable read them the same way (the executable has no drizzle/ folder beside it).
// After `bun run db:generate`, add the new file here: test/migrate.test.ts fails until you do.
import journal from "../../drizzle/meta/_journal.json";
import m0000 from "../../drizzle/0000_init.sql" with { type: "text" };

export const migrationFiles: Record<string, string> = {
  "0000_init": m0000,
};

export const migrationJournal: { entries: { tag: string; when: number }[] } = journal;
