/* orderquake's charts, on uPlot: shaded fault windows, stacked outcome bars, latency lines, the
   backlog after heal. Every time chart of a page shares one cursor and one zoom. */
"use strict";

const OQ = (() => {
  const COLOUR = {ok: "#2da44e", fail: "#cf222e", info: "#d4a72c", p50: "#80ccff", p95: "#218bff",
                  p99: "#0a3069", baseline: "#e16f24", pending: "#8250df", deadline: "#cf222e", axis: "#57606a", grid: "#eaeef2"};
  const SYNC = "oq-time";
  const charts = [];

  function data() {
    return JSON.parse(document.getElementById("oq-data").textContent);
  }

  function fixed(v, digits) {
    return Number(v).toLocaleString("en-US", {maximumFractionDigits: digits});
  }

  function ms(v) {
    return v == null ? "\u2013" : (v < 10 ? fixed(v, 1) : fixed(v, 0)) + " ms";
  }

  // Shaded windows under the plot, their labels over it (DOM: found, read and hovered like text).
  function bandsPlugin(windows, labelled) {
    let shades = [];
    let labels = [];
    return {hooks: {
      init: u => {
        shades = windows.map(w => {
          const el = document.createElement("div");
          el.className = "oq-band";
          el.style.setProperty("--band", w.colour);
          u.under.appendChild(el);
          return el;
        });
        labels = labelled ? windows.map(w => {
          const el = document.createElement("div");
          el.className = "oq-band-label";
          el.style.setProperty("--band", w.colour);
          el.textContent = w.label;
          el.title = w.title;
          u.over.appendChild(el);
          return el;
        }) : [];
      },
      draw: u => {
        const lefts = windows.map(w => u.valToPos(w.start, "x"));
        windows.forEach((w, i) => {
          const left = lefts[i];
          shades[i].style.left = left + "px";
          shades[i].style.width = Math.max(u.valToPos(w.end, "x") - left, 2) + "px";
          if (!labels[i]) return;
          // A label may run past its window's end, up to the next window or the plot's edge.
          const next = Math.min(u.over.clientWidth, ...lefts.filter(l => l > left + 1));
          labels[i].style.left = Math.max(left, 0) + "px";
          labels[i].style.maxWidth = Math.max(next - Math.max(left, 0), 12) + "px";
        });
      },
    }};
  }

  // A zoom on one time chart (drag across it) is a zoom on all; a double click undoes it.
  let zooming = false;
  function zoomPlugin() {
    return {hooks: {
      setScale: (u, key) => {
        if (key !== "x" || zooming) return;
        zooming = true;
        const {min, max} = u.scales.x;
        charts.forEach(other => { if (other !== u) other.setScale("x", {min, max}); });
        zooming = false;
      },
    }};
  }

  function xAxis(show) {
    return {stroke: COLOUR.axis, grid: {stroke: COLOUR.grid}, ticks: {stroke: COLOUR.grid}, show,
            values: (u, vals) => vals.map(v => fixed(v, 1) + " s")};
  }

  function yAxis(label, format) {
    return {stroke: COLOUR.axis, grid: {stroke: COLOUR.grid}, ticks: {stroke: COLOUR.grid}, size: 64, label,
            labelSize: 18, labelFont: "11px system-ui, sans-serif", font: "11px system-ui, sans-serif",
            values: (u, vals) => vals.map(format)};
  }

  // x is the middle of each one-second bucket; the cursor names the bucket.
  function bucketLabel(u, v) {
    return v == null ? "\u2013" : fixed(v - 0.5, 0) + "\u2013" + fixed(v + 0.5, 0) + " s";
  }

  function make(el, opts, rows) {
    const width = Math.max(el.clientWidth, 240);
    const chart = new uPlot({width, ...opts}, rows, el);
    charts.push(chart);
    new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 240);
      if (Math.abs(w - chart.width) > 1) chart.setSize({width: w, height: chart.height});
    }).observe(el);
    return chart;
  }

  function timeOptions(seconds, windows, height) {
    return {
      height,
      cursor: {sync: {key: SYNC}, drag: {x: true, y: false}},
      scales: {x: {time: false, range: () => [0, Math.max(seconds, 1)]}},
      plugins: [bandsPlugin(windows, true), zoomPlugin()],
      legend: {live: true},
    };
  }

  // Completions per second of one operation, stacked ok / fail / info.
  function throughput(el, d, op, windows) {
    const x = d.t.map(t => t + 0.5);
    const okFail = op.ok.map((v, i) => v + op.fail[i]);
    const all = okFail.map((v, i) => v + op.info[i]);
    const raw = [null, op.ok, op.fail, op.info];
    const bars = uPlot.paths.bars({size: [0.86, 60]});
    const shown = (u, v, si, i) => i == null ? "\u2013" : fixed(raw[si][i], 0) + " /s";
    const opts = timeOptions(d.seconds, windows, 200);
    opts.scales.y = {range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.12))]};
    opts.axes = [xAxis(true), yAxis("completed per second", v => fixed(v, 0) + " /s")];
    opts.series = [
      {label: "second", value: bucketLabel},
      {label: "ok", stroke: COLOUR.ok, fill: COLOUR.ok + "d0", width: 0, paths: bars, points: {show: false},
       value: shown},
      {label: "fail", stroke: COLOUR.fail, fill: COLOUR.fail + "e0", width: 0, paths: bars, points: {show: false},
       value: shown},
      {label: "info", stroke: COLOUR.info, fill: COLOUR.info + "e0", width: 0, paths: bars, points: {show: false},
       value: shown},
    ];
    opts.bands = [{series: [2, 1], fill: "transparent"}, {series: [3, 2], fill: "transparent"}];
    return make(el, opts, [x, op.ok, okFail, all]);
  }

  // Latency percentiles per second of one operation, on a log scale: a fault's seconds and a quiet
  // run's milliseconds are both readable on one chart. With a baseline, its p99 is drawn dashed.
  function latency(el, d, op, windows, baseline) {
    const x = d.t.map(t => t + 0.5);
    const clean = s => s.map(v => v == null ? null : Math.max(v, 0.1));
    const opts = timeOptions(d.seconds, windows, 200);
    opts.scales.y = {distr: 3, log: 10, range: (u, min, max) => decades(min, max)};
    const y = yAxis("latency (ms, log)", v => v == null ? "" : ms(v));
    y.splits = (u, i, min, max) => logSplits(min, max);
    opts.axes = [xAxis(true), y];
    const line = (label, colour, width) => ({label, stroke: colour, width, spanGaps: false,
                                             points: {size: 4, fill: colour}, value: (u, v) => ms(v)});
    opts.series = [{label: "second", value: bucketLabel},
                   line("p50", COLOUR.p50, 1.5), line("p95", COLOUR.p95, 1.5), line("p99", COLOUR.p99, 2)];
    const rows = [x, clean(op.p50), clean(op.p95), clean(op.p99)];
    if (baseline) {
      opts.series.push({...line("baseline p99", COLOUR.baseline, 2), dash: [7, 5], points: {size: 3,
                        fill: COLOUR.baseline}});
      rows.push(clean(baseline));
    }
    return make(el, opts, rows);
  }

  // Whole decades around the data, so a log axis starts and ends on a labelled tick.
  function decades(min, max) {
    if (min == null || max == null) return [1, 1000];
    const lo = Math.pow(10, Math.floor(Math.log10(min)));
    const hi = Math.pow(10, Math.ceil(Math.log10(max)));
    return [lo, hi > lo ? hi : lo * 10];
  }

  // 1, 2, 5 per decade: fewer lines than uPlot's nine, every one labelled.
  function logSplits(min, max) {
    const out = [];
    for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, p);
        if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
      }
    }
    return out;
  }

  // The pending backlog after heal, with the scenario's recovery deadline drawn as a line.
  function backlog(el, b) {
    const end = Math.max((b.deadline || 0) * 1.06, (b.t.length ? b.t[b.t.length - 1] : 0) + 1, 1);
    const marks = b.deadline == null ? [] : [{at: b.deadline, label: "recovery deadline " + fixed(b.deadline, 1) + " s"}];
    const opts = {
      height: 170,
      cursor: {drag: {x: false, y: false}},
      scales: {x: {time: false, range: () => [0, end]},
               y: {range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.15))]}},
      axes: [{...xAxis(true), label: "seconds since recovery began", labelSize: 18,
              labelFont: "11px system-ui, sans-serif"},
             yAxis("pending", v => fixed(v, 0))],
      series: [{label: "since heal", value: (u, v) => v == null ? "\u2013" : fixed(v, 1) + " s"},
               {label: "pending orders and payouts", stroke: COLOUR.pending, fill: COLOUR.pending + "22",
                width: 2, paths: uPlot.paths.stepped({align: 1}), points: {size: 6, fill: COLOUR.pending},
                value: (u, v, si, i) => i == null ? "\u2013" : v == null ? "not read" : fixed(v, 0)}],
      plugins: [marksPlugin(marks)],
      legend: {live: true},
    };
    const chart = new uPlot({width: Math.max(el.clientWidth, 240), ...opts}, [b.t, b.pending], el);
    new ResizeObserver(() => chart.setSize({width: Math.max(el.clientWidth, 240), height: chart.height})).observe(el);
    return chart;
  }

  function marksPlugin(marks) {
    let els = [];
    return {hooks: {
      init: u => {
        els = marks.map(m => {
          const el = document.createElement("div");
          el.className = "oq-mark";
          const label = document.createElement("span");
          label.textContent = m.label;
          el.appendChild(label);
          u.over.appendChild(el);
          return el;
        });
      },
      draw: u => marks.forEach((m, i) => { els[i].style.left = u.valToPos(m.at, "x") + "px"; }),
    }};
  }

  // A small chart without axes: completions per second, ok against everything else.
  function spark(el, s) {
    const x = s.t.map(t => t + 0.5);
    const bars = uPlot.paths.bars({size: [0.9, 100]});
    const total = s.ok.map((v, i) => v + s.bad[i]);
    const opts = {
      width: Math.max(el.clientWidth, 120), height: 44,
      cursor: {show: false}, legend: {show: false}, select: {show: false},
      scales: {x: {time: false, range: () => [0, Math.max(s.t.length, 1)]},
               y: {range: (u, min, max) => [0, Math.max(1, max)]}},
      axes: [{show: false}, {show: false}],
      series: [{}, {stroke: COLOUR.ok, fill: COLOUR.ok, width: 0, paths: bars, points: {show: false}},
               {stroke: COLOUR.fail, fill: COLOUR.fail, width: 0, paths: bars, points: {show: false}}],
      bands: [{series: [2, 1], fill: "transparent"}],
      plugins: [bandsPlugin(s.faults, false)],
    };
    return new uPlot(opts, [x, s.ok, total], el);
  }

  return {data, throughput, latency, backlog, spark, charts, make, yAxis, marksPlugin, decades, logSplits, fixed, ms,
          COLOUR};
})();
