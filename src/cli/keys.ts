import type { Command } from "commander";
import { UsageError } from "../config";
import { isoSeconds } from "../datastore/present";
import { apiKeyPrefix, hashApiKey, newApiKeySecret } from "../ids";
import type { ApiKeyRecord } from "../store/types";
import { findOrganizationOrFail, table } from "./arguments";
import type { CliIO } from "./io";
import { withStore } from "./open-store";

const time = (seconds: number | null) => (seconds === null ? null : isoSeconds(seconds));
const toJson = (key: ApiKeyRecord) => ({
  id: key.id,
  name: key.name,
  org_id: key.organizationId,
  prefix: key.keyPrefix,
  created_at: time(key.createdAt),
  last_used_at: time(key.lastUsedAt),
  revoked_at: time(key.revokedAt),
});

export function registerKeys(program: Command, io: CliIO) {
  const keys = program.command("keys").description("manage API keys")
    // Without a subcommand: a one-line usage error, not the whole help.
    .action(() => {
      throw new UsageError("keys needs a subcommand: create, list, revoke");
    });

  keys
    .command("create")
    .description("create an API key (the clear key is printed once)")
    .requiredOption("--org <org>", "organization id or name")
    .option("--name <label>", "a label for the key", "cli")
    .option("--json", "print the key as JSON")
    .option("--db <file>", "database file")
    .action(async (opts: { org: string; name: string; json?: boolean; db?: string }) => {
      if (opts.name.trim() === "" || opts.name.length > 255) throw new UsageError("--name must be 1-255 characters");
      const secret = newApiKeySecret();
      const key = await withStore(opts.db, io.env, async (store) => {
        const org = await findOrganizationOrFail(store, opts.org);
        return store.createApiKey({ organizationId: org.id, name: opts.name, keyHash: hashApiKey(secret), keyPrefix: apiKeyPrefix(secret) }, Date.now());
      });
      if (opts.json) return io.stdout(JSON.stringify({ id: key.id, name: key.name, key: secret, org_id: key.organizationId }) + "\n");
      io.stdout(`Created API key ${key.id} (${key.name}) for ${key.organizationId}. It is shown this once:\n\n  ${secret}\n`);
    });

  keys
    .command("list")
    .description("list an organization's API keys (never the keys themselves)")
    .requiredOption("--org <org>", "organization id or name")
    .option("--json", "print a JSON array")
    .option("--db <file>", "database file")
    .action(async (opts: { org: string; json?: boolean; db?: string }) => {
      const list = await withStore(opts.db, io.env, async (store) => store.listApiKeys((await findOrganizationOrFail(store, opts.org)).id));
      if (opts.json) return io.stdout(JSON.stringify(list.map(toJson)) + "\n");
      io.stdout(
        table(
          ["ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
          list.map((key) => [key.id, key.name, key.keyPrefix + "…", time(key.createdAt)!, time(key.lastUsedAt) ?? "-", time(key.revokedAt) ?? "-"]),
        ),
      );
    });

  keys
    .command("revoke")
    .description("revoke an API key; it stops working at once")
    .argument("<key_id>", "the key's id (key_…)")
    .option("--db <file>", "database file")
    .action(async (keyId: string, opts: { db?: string }) => {
      const key = await withStore(opts.db, io.env, (store) => store.revokeApiKey(keyId, Date.now()));
      if (!key) throw new UsageError(`no API key with id "${keyId}"`);
      io.stdout(`Revoked API key ${key.id} (${key.name}) at ${time(key.revokedAt)}\n`);
    });
}
