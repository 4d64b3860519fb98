/**
 * `load`: the endpoint with the lowest load estimate (picker.ts loadScore): queue and KV use from each endpoint's last
 * scrape plus the requests sent since; an endpoint without a fresh scrape is scored by its in-flight count.
 */
import type { Endpoint, EndpointSet } from "./endpoint_set.ts";
import { leastLoaded, type Picker, type PickRequest } from "./picker.ts";

/** Chooses the least loaded endpoint; ties go round the endpoints. */
export class LoadPicker implements Picker {
  readonly name = "load";
  readonly #set: EndpointSet;
  readonly #staleMs: number;
  #start = 0;

  /** `staleMs`: a scrape older than this is not used. */
  constructor(set: EndpointSet, options: { staleMs: number }) {
    this.#set = set;
    this.#staleMs = options.staleMs;
  }

  /** The usable endpoint with the lowest load estimate. */
  pick(_request: PickRequest, exclude?: Endpoint): Endpoint | undefined {
    const endpoints = this.#set.endpoints;
    if (endpoints.length === 0) return undefined;
    const now = this.#set.now();
    const start = this.#start = (this.#start + 1) % endpoints.length;
    const ctx = { now, freshSince: now - this.#staleMs, exclude, start, ejectedToo: false };
    return leastLoaded(endpoints, ctx) ?? leastLoaded(endpoints, { ...ctx, ejectedToo: true });
  }
}
