/** Builds a picker by its GATEWAY_PICKER name for one upstream's endpoint set. */
import type { PickerName, RoutingConfig } from "./config.ts";
import type { EndpointSet } from "./endpoint_set.ts";
import { loadStaleMs } from "./load_scraper.ts";
import type { Picker } from "./picker.ts";
import { LeastRequestPicker } from "./picker_least_request.ts";
import { LoadPicker } from "./picker_load.ts";
import { PrefixPicker } from "./picker_prefix.ts";
import { RoundRobinPicker } from "./picker_round_robin.ts";

/** A new picker of kind `name` over `set`, with the routing settings; `random` is injectable for tests. */
export function createPicker(
  name: PickerName,
  set: EndpointSet,
  options: { routing: RoutingConfig; random?: () => number },
): Picker {
  const { routing } = options;
  const staleMs = loadStaleMs(routing.loadScrapeMs);
  switch (name) {
    case "round_robin":
      return new RoundRobinPicker(set);
    case "least_request":
      return new LeastRequestPicker(set, { random: options.random });
    case "load":
      return new LoadPicker(set, { staleMs });
    case "prefix":
      return new PrefixPicker(set, {
        staleMs,
        blockBytes: routing.prefixBlockBytes,
        cacheBlocks: routing.prefixCacheBlocks,
        loadThreshold: routing.prefixLoadThreshold,
        minMatch: routing.prefixMinMatch,
        random: options.random,
      });
  }
}

/** True when the picker reads scraped load (its endpoints should be scraped). */
export function usesLoad(name: PickerName): boolean {
  return name === "load" || name === "prefix";
}
