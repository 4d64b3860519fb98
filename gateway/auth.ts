/** API key authentication with constant-time comparison, and the key's identity for limits. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKey, KeyDefaults } from "./config.ts";
import { HttpError } from "./errors.ts";
import type { LimitedKey } from "./rate_limit.ts";

/** Who a request belongs to, without the secret: its name (logs, metrics, rate-limit buckets) and budgets. */
export interface KeyIdentity extends LimitedKey {
  /** Allowed models; undefined means all. */
  readonly models?: ReadonlySet<string>;
  /** The key has a token budget (tpm or tokensPerDay): requests reserve tokens at admission. */
  readonly tokenBudget: boolean;
}

interface Entry {
  key: string;
  identity: KeyIdentity;
}

/** Up to this many keys are checked by comparing against every one; more are looked up by SHA-256 digest. */
const SCAN_LIMIT = 64;

/** Compares without an early exit: the time depends on the configured key's length only, not on the guess. */
export function constantTimeEqual(configured: string, presented: string): boolean {
  let diff = configured.length ^ presented.length;
  const wrap = presented.length || 1;
  for (let i = 0; i < configured.length; i++) diff |= configured.charCodeAt(i) ^ (presented.charCodeAt(i % wrap) | 0);
  return diff === 0;
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** Checks presented API keys against the configured ones. */
export class Authenticator {
  readonly #entries: Entry[] = [];
  readonly #byDigest = new Map<string, { digest: Buffer; identity: KeyIdentity }>();
  readonly #anonymous: KeyIdentity | undefined;

  /** `enabled: false` admits everyone as one shared identity `anonymous` with the `anonymous` budgets. */
  constructor(keys: readonly ApiKey[], options: { enabled: boolean; anonymous: KeyDefaults }) {
    for (const k of keys) {
      const identity = identityOf(k, k.models ? new Set(k.models) : undefined);
      if (keys.length <= SCAN_LIMIT) this.#entries.push({ key: k.key, identity });
      else {
        const d = digest(k.key);
        this.#byDigest.set(d.toString("hex"), { digest: d, identity });
      }
    }
    this.#anonymous = options.enabled ? undefined : identityOf({ name: "anonymous", ...options.anonymous }, undefined);
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
    const identity = this.#find(presented);
    if (identity === undefined) throw new HttpError(401, "Incorrect API key provided.", { code: "invalid_api_key" });
    return identity;
  }

  #find(presented: string): KeyIdentity | undefined {
    let found: KeyIdentity | undefined;
    // Every key is compared, match or not, so the time says nothing about which one matched or how closely.
    for (const entry of this.#entries) if (constantTimeEqual(entry.key, presented)) found = entry.identity;
    if (this.#byDigest.size === 0) return found;
    // Many keys: the lookup is by digest, so its timing says nothing about the key; the final check is constant time.
    const d = digest(presented);
    const hit = this.#byDigest.get(d.toString("hex"));
    return hit !== undefined && timingSafeEqual(hit.digest, d) ? hit.identity : found;
  }
}

function identityOf(key: LimitedKey, models: ReadonlySet<string> | undefined): KeyIdentity {
  const { name, rpm, tpm, tokensPerDay } = key;
  return { name, rpm, tpm, tokensPerDay, models, tokenBudget: tpm > 0 || tokensPerDay > 0 };
}

/** The key a client presented, from `X-API-Key` or `Authorization: Bearer`. */
function presentedKey(headers: Headers): string | undefined {
  const apiKey = headers.get("x-api-key");
  if (apiKey) return apiKey.trim();
  const authorization = headers.get("authorization");
  if (authorization && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === "bearer ") {
    return authorization.slice(7).trim() || undefined;
  }
  return undefined;
}
