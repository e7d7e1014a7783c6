/* The capacity page: throughput and p99 against offered load, each series' steps, knee and model. */
"use strict";

(() => {
  const d = OQ.data();
  const perSecond = v => v == null ? "\u2013" : OQ.fixed(v, 1) + " /s";
  const xAxis = {stroke: OQ.COLOUR.axis, grid: {stroke: OQ.COLOUR.grid}, ticks: {stroke: OQ.COLOUR.grid},
                 label: "offered load (operations per second)", labelSize: 18,
                 labelFont: "11px system-ui, sans-serif", values: (u, vals) => vals.map(v => OQ.fixed(v, 0))};
  const kneed = d.series.filter(s => s.knee != null);
  const knees = kneed.map(s => ({
    at: s.knee, label: s.name + " knee " + (s.lower_bound ? "\u2265 " : "") + OQ.fixed(s.knee, 0) + "/s"}));

  // Each knee in its series' colour, labelled right of its line, one row down per series.
  function colourKnees(el) {
    el.querySelectorAll(".oq-mark").forEach((mark, i) => {
      mark.style.borderLeftColor = kneed[i].colour;
      const label = mark.querySelector("span");
      Object.assign(label.style, {color: kneed[i].colour, left: "4px", right: "auto", top: (2 + 14 * i) + "px"});
    });
  }

  function chart(el, key, modelKey, axis, value, log) {
    const series = [{label: "offered", value: (u, v) => perSecond(v)}];
    const rows = [d.loads];
    d.series.forEach(s => {
      series.push({label: s.name, stroke: s.colour, width: 2, spanGaps: true, points: {size: 7, fill: s.colour},
                   value: (u, v) => value(v)});
      rows.push(log ? s[key].map(v => v == null ? null : Math.max(v, 0.1)) : s[key]);
      series.push({label: s.name + " model", stroke: s.colour, width: 1.5, dash: [6, 5], spanGaps: false,
                   points: {show: false}, value: (u, v) => value(v)});
      rows.push(s[modelKey]);
    });
    const opts = {
      height: 260,
      cursor: {drag: {x: false, y: false}},
      scales: {x: {time: false, range: () => [0, Math.max(...d.loads, 1) * 1.02]},
               y: log ? {distr: 3, log: 10, range: (u, min, max) => OQ.decades(min, max)}
                      : {range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.1))]}},
      axes: [xAxis, axis],
      series,
      plugins: [OQ.marksPlugin(knees)],
      legend: {live: true},
    };
    const made = OQ.make(el, opts, rows);
    colourKnees(el);
    return made;
  }

  let drawn = 0;
  document.querySelectorAll("[data-oq-chart]").forEach(el => {
    const kind = el.dataset.oqChart;
    if (kind === "capacity-throughput") {
      chart(el, "throughput", "model_throughput", OQ.yAxis("completed per second", v => OQ.fixed(v, 0) + " /s"),
            perSecond, false);
    } else if (kind === "capacity-latency") {
      const axis = OQ.yAxis("p99 latency (ms, log)", v => v == null ? "" : OQ.ms(v));
      axis.splits = (u, i, min, max) => OQ.logSplits(min, max);
      chart(el, "p99", "model_latency", axis, OQ.ms, true);
    } else return;
    drawn += 1;
  });
  document.body.dataset.chartsDrawn = String(drawn);
})();
