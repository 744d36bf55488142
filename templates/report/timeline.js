// phpcluster verify --report: draws each check's timeline with uPlot (inlined above this script).
// Every request is a point: x is when it was sent (s), y how long it took (ms, log scale), its
// colour the node that served it; failed requests and sessions read empty or stale have their
// own series; the scenario's events (kill, restore, restart, drain) are vertical lines.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("phpcluster-timelines").textContent);
  var PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2"];
  var EVENT_COLOURS = { kill: "#d62728", stop: "#d62728", restart: "#ff7f0e", drain: "#ff7f0e", restore: "#2ca02c", back: "#2ca02c", active: "#2ca02c", step: "#999999" };
  var OK = 0, EMPTY = 1, STALE = 2, FAILED = 3;

  function chart(el) {
    var tl = data[Number(el.getAttribute("data-check"))];
    var n = tl.t.length;
    var order = [];
    for (var i = 0; i < n; i++) order.push(i);
    order.sort(function (a, b) { return tl.t[a] - tl.t[b]; });
    var xs = order.map(function (i) { return tl.t[i] / 1000; });
    var columns = [xs];
    var series = [{ label: "sent at (s)" }];
    var scatter = function (label, stroke, size) {
      return { label: label, stroke: stroke, fill: stroke, paths: function () { return null; }, points: { show: true, size: size, stroke: stroke, fill: stroke }, spanGaps: false };
    };
    var ms = function (i) { return Math.max(tl.ms[i], 0.1); };
    tl.nodes.forEach(function (node, k) {
      columns.push(order.map(function (i) { return tl.node[i] === k && tl.outcome[i] === OK ? ms(i) : null; }));
      series.push(scatter(node, PALETTE[k % PALETTE.length], 4));
    });
    columns.push(order.map(function (i) { return tl.outcome[i] === EMPTY || tl.outcome[i] === STALE ? ms(i) : null; }));
    series.push(scatter("empty or stale", "#ff7f0e", 8));
    columns.push(order.map(function (i) { return tl.outcome[i] === FAILED ? ms(i) : null; }));
    series.push(scatter("failed", "#d62728", 9));

    var drawEvents = function (u) {
      var c = u.ctx;
      c.save();
      c.font = Math.round(11 * devicePixelRatio) + "px sans-serif";
      tl.events.forEach(function (e, j) {
        var x = Math.round(u.valToPos(e.t / 1000, "x", true));
        c.strokeStyle = EVENT_COLOURS[e.kind] || "#999999";
        c.fillStyle = c.strokeStyle;
        c.lineWidth = 1.5 * devicePixelRatio;
        c.setLineDash(e.kind === "step" ? [3, 3] : []);
        c.beginPath();
        c.moveTo(x, u.bbox.top);
        c.lineTo(x, u.bbox.top + u.bbox.height);
        c.stroke();
        c.fillText(e.label, x + 3 * devicePixelRatio, u.bbox.top + (12 + (j % 4) * 12) * devicePixelRatio);
      });
      c.restore();
    };
    var width = Math.max(600, Math.min(el.clientWidth || 1000, 1400));
    var u = new uPlot(
      {
        width: width,
        height: 320,
        scales: {
          // the events too: a node's return after the last request is still on the chart
          x: {
            time: false,
            range: function (u, min, max) {
              tl.events.forEach(function (e) {
                min = Math.min(min, e.t / 1000);
                max = Math.max(max, e.t / 1000);
              });
              var pad = (max - min) * 0.02 || 0.01;
              return [Math.max(0, min - pad), max + pad];
            },
          },
          y: { distr: 3 },
        },
        axes: [{ label: "seconds since the check began" }, { label: "latency (ms)" }],
        series: series,
        cursor: { drag: { x: true, y: false } },
        hooks: { draw: [drawEvents] },
      },
      columns,
      el
    );
    var drawn = 0, points = 0;
    for (var s = 1; s < columns.length; s++) {
      var count = columns[s].filter(function (v) { return v !== null; }).length;
      if (count > 0) drawn++;
      points += count;
    }
    el.setAttribute("data-series", String(drawn));
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-events", String(tl.events.length));
    el.setAttribute("data-drawn", "true");
    return u;
  }

  var charts = document.querySelectorAll(".timeline-chart");
  for (var i = 0; i < charts.length; i++) chart(charts[i]);
})();
