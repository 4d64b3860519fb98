/** Reads values out of Prometheus text exposition, for assertions on /metrics. */

/** Sum of every sample of `name` whose labels include all of `labels` (0 when there is none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const labelText = rest[0] === "{" ? rest.slice(1, rest.lastIndexOf("}")) : "";
    const found = new Map<string, string>();
    for (const match of labelText.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      found.set(match[1], match[2]);
    }
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** Fetches `<url>/metrics` and returns one metric's value (see metricValue). */
export async function scrape(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${baseUrl}/metrics`);
  return metricValue(await response.text(), name, labels);
}
