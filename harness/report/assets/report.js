/* report.html and compare.html: draw each chart where the page left a placeholder for it. */
"use strict";

(() => {
  const d = OQ.data();
  const ops = Object.fromEntries(d.timeline.ops.map(op => [op.op, op]));
  let drawn = 0;
  document.querySelectorAll("[data-oq-chart]").forEach(el => {
    const kind = el.dataset.oqChart;
    if (kind === "backlog") OQ.backlog(el, d.backlog);
    else if (kind === "throughput") OQ.throughput(el, d.timeline, ops[el.dataset.op], d.windows);
    else if (kind === "latency") {
      OQ.latency(el, d.timeline, ops[el.dataset.op], d.windows, d.baseline ? d.baseline.p99[el.dataset.op] : null);
    }
    else return;
    drawn += 1;
  });
  document.body.dataset.chartsDrawn = String(drawn);
})();
