/* Small wrappers around uPlot (vendored under vendor/uplot): time series and labelled bars. */
"use strict";

const Charts = (() => {
  const palette = ["#2f6fde", "#d1343a", "#1f9d55", "#d08a00", "#7a4cc2"];

  function width(el) {
    return Math.max(320, el.clientWidth - 16);
  }

  // series: [{label, values, scale?}], xs: unix seconds. Replaces whatever chart the element held.
  function time(el, xs, series, yLabel) {
    el.replaceChildren();
    const opts = {
      width: width(el),
      height: 220,
      series: [{}].concat(series.map((s, i) => ({
        label: s.label, stroke: palette[i % palette.length], width: 2, spanGaps: false,
        fill: i === 0 ? "rgba(47,111,222,0.08)" : undefined,
        // Gaps mean idle buckets: draw each point, or a lone busy bucket would not show at all.
        points: { show: s.values.some((v) => v === null), size: 6, fill: palette[i % palette.length] },
      }))),
      axes: [{}, { label: yLabel || "", size: 60 }],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
    return new uPlot(opts, [xs].concat(series.map((s) => s.values)), el);
  }

  // Bars for categories (spend by key, team, model...): x is the index, the axis shows the label.
  function bars(el, labels, values, label) {
    el.replaceChildren();
    const xs = labels.map((_, i) => i);
    const opts = {
      width: width(el),
      height: 240,
      scales: { x: { time: false, range: [-0.6, Math.max(labels.length - 0.4, 0.6)] } },
      series: [{}, {
        label: label, fill: "rgba(47,111,222,0.6)", stroke: palette[0],
        paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false },
      }],
      axes: [
        { values: (u, splits) => splits.map((v) => (Number.isInteger(v) && labels[v] !== undefined ? labels[v] : "")),
          incrs: [1], size: 40 },
        { size: 70 },
      ],
      legend: { show: true },
    };
    return new uPlot(opts, [xs, values], el);
  }

  return { time, bars };
})();
