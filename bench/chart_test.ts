import assert from "node:assert/strict";
import { lineChartSvg, logTicks } from "./chart.ts";

Deno.test("log ticks step 1-2-5 through the decades of the range", () => {
  assert.deepEqual(logTicks(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10]);
});

Deno.test("the chart draws one polyline per series with points and a legend entry, and escapes names", () => {
  const svg = lineChartSvg([{
    title: "p99",
    series: [
      { name: "direct", color: "#000", points: [{ x: 100, y: 5.1 }, { x: 1000, y: 5.4 }] },
      { name: "a<b", color: "#f00", points: [{ x: 100, y: 5.3 }] },
    ],
  }], { xLabel: "offered load (requests/s)", yLabel: "latency (ms)" });
  assert.ok(svg.startsWith("<svg"));
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.equal(svg.match(/<circle/g)?.length, 3);
  assert.ok(svg.includes("a&lt;b"));
});

Deno.test("a chart without data says so instead of failing", () => {
  assert.ok(lineChartSvg([{ title: "p50", series: [] }], { xLabel: "x", yLabel: "y" }).includes("no data"));
});
