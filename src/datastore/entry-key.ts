import { rawPath } from "../known-routes";
import { DEFAULT_NAMESPACE, NAME_PATTERN } from "./model";

const ENTRIES_PATH = "/api/v1/datastore/entries/";
const NAME = new RegExp(NAME_PATTERN);

/**
 * The entry key of a `/entries/<key>` URL: everything after `/entries/`, percent-decoded
 * exactly once (so `a/b`, `a%2Fb` are the key `a/b`, and `a%252Fb` is `a%2Fb`). Read from
 * the raw URL because Elysia decodes params itself and stops `:key` at a slash. Null when
 * the text cannot be a key (bad encoding, wrong alphabet, wrong length): the entry cannot exist.
 */
export function entryKeyFromUrl(url: string): string | null {
  const path = rawPath(url);
  if (!path.startsWith(ENTRIES_PATH)) return null;
  const raw = path.slice(ENTRIES_PATH.length);
  let key = raw;
  if (raw.includes("%")) {
    try {
      key = decodeURIComponent(raw);
    } catch {
      return null;
    }
  }
  return NAME.test(key) ? key : null;
}

/** A namespace query value, absent or empty meaning `default`; null when it cannot name one. */
export function namespaceOrDefault(namespace: string | undefined): string | null {
  if (!namespace) return DEFAULT_NAMESPACE;
  return NAME.test(namespace) ? namespace : null;
}
