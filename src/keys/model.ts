import { t } from "elysia";

const nullableTimestamp = (description: string) =>
  t.Union([t.String({ format: "date-time" }), t.Null()], { description, examples: [null] });

const keyFields = {
  id: t.String({ examples: ["key_3kq2m9x7c4v1b5n6z0aa"] }),
  name: t.String({ examples: ["ci"] }),
};
const keyTimes = {
  created_at: t.String({ format: "date-time", examples: ["2026-03-15T10:00:00Z"] }),
  last_used_at: nullableTimestamp("Last authenticated use; may lag by up to a minute"),
  revoked_at: nullableTimestamp("When the key was revoked; a revoked key stops working at once"),
};

export const ApiKey = t.Object({ ...keyFields, ...keyTimes });

export const CreatedApiKey = t.Object({
  ...keyFields,
  key: t.String({ description: "The clear key: shown this once, never again", examples: ["hklst_…"] }),
  ...keyTimes,
});

export const ApiKeyList = t.Object({ data: t.Array(ApiKey) });

export const CreateApiKeyBody = t.Object(
  { name: t.String({ minLength: 1, maxLength: 255, error: "must be a string of 1-255 characters", examples: ["ci"] }) },
  { additionalProperties: true },
);

export const OrganizationList = t.Array(t.Object({ id: t.String({ examples: ["org_8f3kq2m9x7c4v1b5n6z0"] }), name: t.String() }));
