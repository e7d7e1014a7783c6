/* The suite's index.html: one small throughput chart per run, fault windows shaded. */
"use strict";

(() => {
  const d = OQ.data();
  let drawn = 0;
  document.querySelectorAll("[data-oq-spark]").forEach(el => {
    OQ.spark(el, d.runs[el.dataset.oqSpark]);
    drawn += 1;
  });
  document.body.dataset.chartsDrawn = String(drawn);
})();
