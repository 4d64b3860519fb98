/** API key authentication: constant-time comparison of SHA-256 digests, and the key's identity for limits. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKey } from "./config.ts";
import { HttpError } from "./errors.ts";

/** Who a request belongs to, without the secret. */
export interface KeyIdentity {
  /** Name for logs, metrics and the rate-limit bucket. */
  name: string;
  /** Requests per minute; 0 means unlimited. */
  rpm: number;
  /** Allowed models; undefined means all. */
  models?: ReadonlySet<string>;
}

interface Entry {
  digest: Buffer;
  identity: KeyIdentity;
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** Checks presented API keys against the configured ones. */
export class Authenticator {
  readonly #byDigest = new Map<string, Entry>();
  readonly #anonymous: KeyIdentity | undefined;

  /** `enabled: false` admits everyone as one shared identity `anonymous` limited to `anonymousRpm`. */
  constructor(keys: readonly ApiKey[], options: { enabled: boolean; anonymousRpm: number }) {
    for (const k of keys) {
      const d = digest(k.key);
      const identity = { name: k.name, rpm: k.rpm, models: k.models ? new Set(k.models) : undefined };
      this.#byDigest.set(d.toString("hex"), { digest: d, identity });
    }
    this.#anonymous = options.enabled ? undefined : { name: "anonymous", rpm: options.anonymousRpm };
  }

  /** Returns the identity for the request's `X-API-Key` or `Authorization: Bearer` key, or throws a 401. */
  authenticate(headers: Headers): KeyIdentity {
    if (this.#anonymous) return this.#anonymous;
    const presented = presentedKey(headers);
    if (presented === undefined) {
      throw new HttpError(401, "Missing API key: send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'.", {
        code: "missing_api_key",
      });
    }
    // The map lookup is by digest, so its timing says nothing about the key; the final check is constant time.
    const d = digest(presented);
    const entry = this.#byDigest.get(d.toString("hex"));
    if (entry === undefined || !timingSafeEqual(entry.digest, d)) {
      throw new HttpError(401, "Incorrect API key provided.", { code: "invalid_api_key" });
    }
    return entry.identity;
  }
}

/** The key a client presented, from `X-API-Key` or `Authorization: Bearer`. */
export function presentedKey(headers: Headers): string | undefined {
  const apiKey = headers.get("x-api-key");
  if (apiKey) return apiKey.trim();
  const authorization = headers.get("authorization");
  if (authorization && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === "bearer ") {
    return authorization.slice(7).trim() || undefined;
  }
  return undefined;
}
