/** `round_robin`: endpoints in turn, skipping ejected ones. */
import type { EndpointSet } from "./endpoint_set.ts";
import { type Picker, type PickRequest, usable } from "./picker.ts";
import type { Endpoint } from "./endpoint_set.ts";

/** Hands out the endpoints of a set in turn. */
export class RoundRobinPicker implements Picker {
  readonly name = "round_robin";
  readonly #set: EndpointSet;
  #next = 0;

  constructor(set: EndpointSet) {
    this.#set = set;
  }

  /** The next usable endpoint after the last one handed out. */
  pick(_request: PickRequest, exclude?: Endpoint): Endpoint | undefined {
    const endpoints = this.#set.endpoints;
    const n = endpoints.length;
    const now = this.#set.now();
    for (const ejectedToo of [false, true]) {
      const ctx = { now, exclude, ejectedToo };
      for (let k = 0; k < n; k++) {
        const i = (this.#next + k) % n;
        if (!usable(endpoints[i], ctx)) continue;
        this.#next = i + 1;
        return endpoints[i];
      }
    }
    return undefined;
  }
}
