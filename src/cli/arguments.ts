import { UsageError } from "../config";
import { PLANS, type Organization, type Plan, type Store } from "../store/types";

export function parsePlan(text: string): Plan {
  if (!(PLANS as readonly string[]).includes(text)) throw new UsageError(`--plan must be one of ${PLANS.join(", ")}, got "${text}"`);
  return text as Plan;
}

/** --max-entries: a whole number, or `none` for the plan's own limit. */
export function parseMaxEntries(text: string): number | null {
  if (text === "none") return null;
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`--max-entries must be a whole number or "none", got "${text}"`);
  return Number(text);
}

export async function findOrganizationOrFail(store: Store, idOrName: string): Promise<Organization> {
  const org = await store.findOrganization(idOrName);
  if (!org) throw new UsageError(`no organization with id or name "${idOrName}"`);
  return org;
}

/** Prints rows as aligned columns with a header (for the non-JSON listings). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd() + "\n";
  return line(headers) + rows.map(line).join("");
}
