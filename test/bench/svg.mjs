// A dependency-free line chart: wall time (log scale) against N, one line per contender.
const COLOURS = ["#d9480f", "#1c7ed6", "#2b8a3e", "#862e9c", "#495057"];

function escapeXml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function lineChartSvg({ title, subtitle, xLabel, yLabel, series }) {
  const width = 760;
  const height = 440;
  const margin = { top: 60, right: 190, bottom: 60, left: 80 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const points = series.flatMap((line) => line.points);
  const xMax = Math.max(...points.map((point) => point.x));
  const yMin = Math.max(1, Math.min(...points.map((point) => point.y)));
  const yMax = Math.max(...points.map((point) => point.y));
  // A tight log range, so lines close together near the bottom stay apart.
  const logMin = Math.log10(yMin * 0.9);
  const logMax = Math.log10(yMax * 1.1);
  const x = (value) => margin.left + (value / xMax) * plotWidth;
  const y = (value) => margin.top + plotHeight - ((Math.log10(Math.max(value, 1)) - logMin) / (logMax - logMin || 1)) * plotHeight;

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${margin.left}" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${margin.left}" y="42" fill="#555">${escapeXml(subtitle)}</text>`,
  ];
  const ticks = [];
  for (let power = Math.floor(logMin); power <= Math.ceil(logMax); power++) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** power;
      if (Math.log10(value) >= logMin && Math.log10(value) <= logMax) ticks.push(value);
    }
  }
  for (const value of ticks) {
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(value)}" y2="${y(value)}" stroke="#e9ecef"/>`);
    parts.push(
      `<text x="${margin.left - 8}" y="${y(value) + 4}" text-anchor="end">${value >= 1000 ? `${value / 1000} s` : `${value} ms`}</text>`,
    );
  }
  const xTicks = [...new Set(points.map((point) => point.x))].sort((a, b) => a - b);
  for (const tick of xTicks) parts.push(`<text x="${x(tick)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${tick}</text>`);
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#333"/>`,
  );
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#333"/>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 16}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(`<text transform="translate(20 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  series.forEach((line, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const path = line.points.map((point, i) => `${i === 0 ? "M" : "L"}${x(point.x).toFixed(1)},${y(point.y).toFixed(1)}`).join(" ");
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const point of line.points)
      parts.push(`<circle cx="${x(point.x).toFixed(1)}" cy="${y(point.y).toFixed(1)}" r="3" fill="${colour}"/>`);
    const legendY = margin.top + 10 + index * 20;
    parts.push(
      `<line x1="${width - margin.right + 16}" x2="${width - margin.right + 40}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${width - margin.right + 46}" y="${legendY + 4}">${escapeXml(line.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
