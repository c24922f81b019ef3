import type { Command } from "commander";
import { UsageError } from "../config";
import { entryLimit } from "../plans";
import type { Organization } from "../store/types";
import { findOrganizationOrFail, parseMaxEntries, parsePlan, table } from "./arguments";
import type { CliIO } from "./io";
import { withStore } from "./open-store";

const toJson = (org: Organization) => ({ id: org.id, name: org.name, plan: org.plan, max_entries: org.maxEntries });
const limitText = (org: Organization) => String(entryLimit(org) ?? "unlimited");

export function registerOrgs(program: Command, io: CliIO) {
  const orgs = program.command("orgs").description("manage organizations")
    // Without a subcommand: a one-line usage error, not the whole help.
    .action(() => {
      throw new UsageError("orgs needs a subcommand: create, list, set-plan");
    });

  orgs
    .command("create")
    .description("create an organization")
    .argument("<name>", "organization name (unique)")
    .option("--plan <plan>", "free, starter, team or scale", "scale")
    .option("--max-entries <n>", 'override the plan\'s entry limit ("none" for the plan\'s)')
    .option("--json", "print the organization as JSON")
    .option("--db <file>", "database file")
    .action(async (name: string, opts: { plan: string; maxEntries?: string; json?: boolean; db?: string }) => {
      const plan = parsePlan(opts.plan);
      const maxEntries = opts.maxEntries === undefined ? null : parseMaxEntries(opts.maxEntries);
      if (name.trim() === "" || name.length > 255) throw new UsageError("NAME must be 1-255 characters");
      const org = await withStore(opts.db, io.env, async (store) => {
        if (await store.findOrganization(name)) throw new UsageError(`an organization named "${name}" already exists`);
        return store.createOrganization({ name, plan, maxEntries }, Date.now());
      });
      io.stdout(opts.json ? JSON.stringify(toJson(org)) + "\n" : `Created organization ${org.name} (${org.id}), plan ${org.plan}, entry limit ${limitText(org)}\n`);
    });

  orgs
    .command("list")
    .description("list organizations")
    .option("--json", "print a JSON array")
    .option("--db <file>", "database file")
    .action(async (opts: { json?: boolean; db?: string }) => {
      const list = await withStore(opts.db, io.env, (store) => store.listOrganizations());
      if (opts.json) return io.stdout(JSON.stringify(list.map(toJson)) + "\n");
      io.stdout(table(["ID", "NAME", "PLAN", "ENTRY LIMIT"], list.map((org) => [org.id, org.name, org.plan, limitText(org)])));
    });

  orgs
    .command("set-plan")
    .description("change an organization's plan and, optionally, its entry limit")
    .argument("<org>", "organization id or name")
    .requiredOption("--plan <plan>", "free, starter, team or scale")
    .option("--max-entries <n>", 'override the plan\'s entry limit ("none" for the plan\'s; unchanged if omitted)')
    .option("--db <file>", "database file")
    .action(async (idOrName: string, opts: { plan: string; maxEntries?: string; db?: string }) => {
      const plan = parsePlan(opts.plan);
      const maxEntries = opts.maxEntries === undefined ? undefined : parseMaxEntries(opts.maxEntries);
      const org = await withStore(opts.db, io.env, async (store) => {
        const current = await findOrganizationOrFail(store, idOrName);
        return (await store.updateOrganizationPlan(current.id, plan, maxEntries === undefined ? current.maxEntries : maxEntries))!;
      });
      io.stdout(`Organization ${org.name} (${org.id}) is now on plan ${org.plan}, entry limit ${limitText(org)}\n`);
    });
}
