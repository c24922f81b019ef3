const ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER_ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyz";

/** `length` characters drawn uniformly from `alphabet` with a cryptographic source. */
function randomString(alphabet: string, length: number): string {
  // Bytes at or above the largest multiple of the alphabet size are dropped so every
  // character is equally likely.
  const ceiling = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < ceiling && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

export const newEntryId = () => `ds_${randomString(LOWER_ALPHANUMERIC, 20)}`;
export const newOrganizationId = () => `org_${randomString(ALPHANUMERIC, 20)}`;
export const newApiKeyId = () => `key_${randomString(ALPHANUMERIC, 20)}`;

export const API_KEY_PREFIX = "hklst_";

// A real key is `hklst_` + at least 32 URL-safe characters (SPEC §1).
const KEY_FORMAT = /^hklst_[A-Za-z0-9_-]{32,}$/;
export const isWellFormedKey = (key: string) => KEY_FORMAT.test(key);

/** A fresh clear API key: `hklst_` + 43 URL-safe characters (32 random bytes). */
export function newApiKeySecret(): string {
  return API_KEY_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export function hashApiKey(secret: string): string {
  return new Bun.CryptoHasher("sha256").update(secret).digest("hex");
}

/**
 * What may be logged or shown of a key: enough to recognise it, too little to use it. A short
 * token (dev mode accepts any `hklst_…`) shows nothing of its own.
 */
export function apiKeyPrefix(secret: string): string {
  return isWellFormedKey(secret) ? secret.slice(0, API_KEY_PREFIX.length + 4) : API_KEY_PREFIX;
}
