/** A small SVG line chart writer: panels side by side, log-scaled axes, one line per series. */

/** One line: a name for the legend, a colour, and its points (x ascending). */
export interface Series {
  name: string;
  color: string;
  points: Array<{ x: number; y: number }>;
}

/** One panel of the chart. */
export interface Panel {
  title: string;
  series: Series[];
}

const WIDTH = 460;
const HEIGHT = 320;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** Powers of ten, and 2x and 5x steps, that cover [min, max]. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exp = Math.floor(Math.log10(min)); exp <= Math.ceil(Math.log10(max)); exp++) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** exp;
      if (value >= min * 0.999 && value <= max * 1.001) ticks.push(value);
    }
  }
  return ticks;
}

function formatTick(value: number): string {
  if (value >= 1000) return `${value / 1000}k`;
  return String(Number(value.toPrecision(3)));
}

function panelSvg(
  panel: Panel,
  options: { offsetX: number; xLabel: string; yLabel: string; xs: number[]; ys: number[] },
) {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const [xMin, xMax] = [Math.min(...options.xs), Math.max(...options.xs)];
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...options.ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...options.ys)));
  const sx = (x: number) =>
    options.offsetX + MARGIN.left + (xMax === xMin ? plotW / 2 : (Math.log(x / xMin) / Math.log(xMax / xMin)) * plotW);
  const sy = (y: number) => MARGIN.top + plotH - (Math.log(y / yMin) / Math.log(yMax / yMin)) * plotH;
  const parts: string[] = [];
  const left = options.offsetX + MARGIN.left;
  parts.push(
    `<text x="${left + plotW / 2}" y="20" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  parts.push(`<rect x="${left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const y of logTicks(yMin, yMax)) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${sy(y) + 4}" text-anchor="end">${formatTick(y)}</text>`);
  }
  for (const x of options.xs) {
    parts.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${formatTick(x)}</text>`);
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(${options.offsetX + 16} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel)
    }</text>`,
  );
  for (const series of panel.series) {
    if (series.points.length === 0) continue;
    const path = series.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"/>`);
    for (const p of series.points) {
      parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${series.color}"/>`);
    }
  }
  return parts.join("\n");
}

/** Renders panels side by side with a shared legend below; axes are logarithmic. */
export function lineChartSvg(panels: Panel[], options: { xLabel: string; yLabel: string; note?: string }): string {
  const all = panels.flatMap((panel) => panel.series.flatMap((s) => s.points));
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  const ys = all.map((p) => p.y).filter((y) => y > 0);
  const names = [...new Map(panels.flatMap((p) => p.series).map((s) => [s.name, s.color])).entries()];
  const width = WIDTH * panels.length;
  // Legend items flow left to right and wrap onto a new row at the right edge.
  const items: Array<{ name: string; color: string; x: number; row: number }> = [];
  let x = MARGIN.left;
  let row = 0;
  for (const [name, color] of names) {
    const itemWidth = 24 + name.length * 7;
    if (x + itemWidth > width && x > MARGIN.left) {
      x = MARGIN.left;
      row++;
    }
    items.push({ name, color, x, row });
    x += itemWidth;
  }
  const rows = row + 1;
  const legendH = 6 + rows * 18 + (options.note ? 18 : 0);
  const height = HEIGHT + legendH;
  const body = xs.length && ys.length
    ? panels.map((panel, i) => panelSvg(panel, { offsetX: i * WIDTH, ...options, xs, ys })).join("\n")
    : `<text x="${width / 2}" y="${HEIGHT / 2}" text-anchor="middle">no data</text>`;
  const legend = items.map((item) => {
    const y = HEIGHT + 4 + item.row * 18;
    return `<rect x="${item.x}" y="${y}" width="12" height="12" fill="${item.color}"/>` +
      `<text x="${item.x + 16}" y="${y + 10}">${escapeXml(item.name)}</text>`;
  }).join("\n");
  const note = options.note
    ? `<text x="${MARGIN.left}" y="${HEIGHT + 18 * rows + 14}" fill="#555">${escapeXml(options.note)}</text>`
    : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n${legend}\n${note}\n</svg>\n`;
}

/** One group of bars (a workload): one value per series, in series order (NaN: no bar). */
export interface BarGroup {
  label: string;
  values: number[];
}

/** Grouped bars on a logarithmic y axis: one colour per series, a legend below, values written above the bars. */
export function barChartSvg(
  groups: BarGroup[],
  options: { series: Array<{ name: string; color: string }>; title: string; yLabel: string; note?: string },
): string {
  const width = Math.max(WIDTH, MARGIN.left + MARGIN.right + groups.length * (options.series.length * 22 + 40));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const ys = groups.flatMap((g) => g.values).filter((y) => Number.isFinite(y) && y > 0);
  const legendH = 24 + (options.note ? 18 : 0);
  const height = HEIGHT + legendH;
  const parts: string[] = [
    `<text x="${width / 2}" y="20" text-anchor="middle" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  if (ys.length > 0) {
    const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
    const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
    const sy = (y: number) => MARGIN.top + plotH - (Math.log(y / yMin) / Math.log(yMax / yMin)) * plotH;
    parts.push(
      `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    );
    for (const y of logTicks(yMin, yMax)) {
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
      parts.push(`<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" text-anchor="end">${formatTick(y)}</text>`);
    }
    const groupW = plotW / groups.length;
    const barW = Math.min(20, (groupW - 16) / options.series.length);
    groups.forEach((group, g) => {
      const left = MARGIN.left + g * groupW + (groupW - barW * options.series.length) / 2;
      group.values.forEach((value, s) => {
        if (!Number.isFinite(value) || value <= 0) return;
        const x = left + s * barW;
        const top = sy(value);
        parts.push(
          `<rect class="bar" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
            `height="${(MARGIN.top + plotH - top).toFixed(1)}" fill="${options.series[s].color}"/>`,
        );
      });
      parts.push(
        `<text x="${MARGIN.left + g * groupW + groupW / 2}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${
          escapeXml(group.label)
        }</text>`,
      );
    });
    parts.push(
      `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${
        escapeXml(options.yLabel)
      }</text>`,
    );
  } else {
    parts.push(`<text x="${width / 2}" y="${HEIGHT / 2}" text-anchor="middle">no data</text>`);
  }
  let x = MARGIN.left;
  for (const item of options.series) {
    parts.push(
      `<rect x="${x}" y="${HEIGHT + 4}" width="12" height="12" fill="${item.color}"/>` +
        `<text x="${x + 16}" y="${HEIGHT + 14}">${escapeXml(item.name)}</text>`,
    );
    x += 24 + item.name.length * 7;
  }
  if (options.note) {
    parts.push(`<text x="${MARGIN.left}" y="${HEIGHT + 34}" fill="#555">${escapeXml(options.note)}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${
      parts.join("\n")
    }\n</svg>\n`;
}
