/* definum-gql dashboard: charts drawn as plain SVG (our own file, GPL-3.0-or-later).
 *
 * DefinumCharts.months(options): time spent per month as bars and logins as a line on a second
 * axis, the partial (current) month hatched, one selected month; the bars are a keyboard-usable
 * group (one tab stop, arrow keys move, Enter or Space select).
 * DefinumCharts.ring(percent, label): the completion ratio as a ring.
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, children) {
    var el = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] !== null && attrs[name] !== undefined) el.setAttribute(name, String(attrs[name]));
    });
    (children || []).forEach(function (child) {
      if (child === null) return;
      el.append(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  // A step of 1, 2 or 5 times a power of ten, so that about `count` steps cover `max`.
  function niceStep(max, count) {
    var raw = max / count;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= raw) return steps[i] * power;
    }
    return 10 * power;
  }

  // Axis ticks for durations in seconds: minutes below two hours, else hours.
  function durationTicks(maxSeconds) {
    var unit = maxSeconds < 7200 ? 60 : 3600;
    var suffix = unit === 60 ? " min" : " h";
    var max = Math.max(maxSeconds / unit, 1);
    var step = niceStep(max, 4);
    var top = Math.ceil(max / step) * step;
    var ticks = [];
    for (var v = 0; v <= top + 1e-9; v += step) {
      ticks.push({ value: v * unit, label: String(Math.round(v * 100) / 100) + suffix });
    }
    return { top: top * unit, ticks: ticks };
  }

  function countTicks(max) {
    var step = Math.max(1, niceStep(Math.max(max, 1), 4));
    step = Math.ceil(step);
    var top = Math.max(step, Math.ceil(max / step) * step);
    var ticks = [];
    for (var v = 0; v <= top; v += step) ticks.push({ value: v, label: String(v) });
    return { top: top, ticks: ticks };
  }

  /**
   * options: {
   *   points: [{ key, label, shortLabel, seconds, logins, partial, description }],
   *   selected: key, width: pixels, title: string,
   *   onSelect(key, viaKeyboard)
   * }
   */
  function months(options) {
    var points = options.points;
    var width = Math.max(280, Math.floor(options.width || 640));
    var narrow = width < 520;
    var height = narrow ? 220 : 260;
    var margin = { top: 14, right: 44, bottom: 34, left: narrow ? 46 : 54 };
    var plotW = width - margin.left - margin.right;
    var plotH = height - margin.top - margin.bottom;
    var time = durationTicks(Math.max.apply(null, points.map(function (p) { return p.seconds; }).concat([0])));
    var logins = countTicks(Math.max.apply(null, points.map(function (p) { return p.logins; }).concat([0])));
    var slot = plotW / points.length;
    var barW = Math.max(6, Math.min(36, slot * 0.62));
    var y = function (seconds) { return margin.top + plotH - (seconds / time.top) * plotH; };
    var yLogins = function (count) { return margin.top + plotH - (count / logins.top) * plotH; };
    var x = function (i) { return margin.left + slot * i + slot / 2; };

    var root = svg("svg", {
      "class": "chart",
      width: width,
      height: height,
      viewBox: "0 0 " + width + " " + height,
      role: "group",
      "aria-label": options.title
    });
    root.append(svg("defs", {}, [
      svg("pattern", { id: "partial-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, [
        svg("rect", { width: 6, height: 6, "class": "hatch-bg" }),
        svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, "class": "hatch-line" })
      ])
    ]));

    var grid = svg("g", { "class": "grid", "aria-hidden": "true" });
    time.ticks.forEach(function (tick) {
      var ty = y(tick.value);
      grid.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: ty, y2: ty }));
      grid.append(svg("text", { x: margin.left - 6, y: ty + 4, "text-anchor": "end", "class": "axis-time" }, [tick.label]));
    });
    logins.ticks.forEach(function (tick) {
      grid.append(svg("text", { x: width - margin.right + 6, y: yLogins(tick.value) + 4, "class": "axis-logins" }, [tick.label]));
    });
    root.append(grid);

    var labelEvery = narrow ? 2 : 1;
    var bars = svg("g", { "class": "bars", role: "radiogroup", "aria-label": options.title });
    var barNodes = [];
    points.forEach(function (point, i) {
      var selected = point.key === options.selected;
      var top = y(point.seconds);
      var group = svg("g", {
        "class": "bar" + (selected ? " selected" : "") + (point.partial ? " partial" : ""),
        role: "radio",
        tabindex: selected ? 0 : -1,
        "aria-checked": selected ? "true" : "false",
        "aria-label": point.description,
        "data-month": point.key
      }, [
        svg("title", {}, [point.description]),
        // The whole column is the target, not only the (maybe empty) bar.
        svg("rect", { "class": "hit", x: x(i) - slot / 2, y: margin.top, width: slot, height: plotH + 18 }),
        svg("rect", {
          "class": "value",
          x: x(i) - barW / 2,
          y: top,
          width: barW,
          height: Math.max(0, margin.top + plotH - top),
          fill: point.partial ? "url(#partial-hatch)" : null
        })
      ]);
      if (i % labelEvery === (points.length - 1) % labelEvery) {
        group.append(svg("text", { x: x(i), y: height - margin.bottom + 16, "text-anchor": "middle", "class": "month-label" }, [point.shortLabel]));
      }
      if (point.partial) {
        group.append(svg("text", { x: x(i), y: height - margin.bottom + 29, "text-anchor": "middle", "class": "partial-label" }, ["partial"]));
      }
      group.addEventListener("click", function () { options.onSelect(point.key, false); });
      group.addEventListener("keydown", function (event) {
        var target = null;
        if (event.key === "ArrowLeft" || event.key === "ArrowDown") target = i - 1;
        else if (event.key === "ArrowRight" || event.key === "ArrowUp") target = i + 1;
        else if (event.key === "Home") target = 0;
        else if (event.key === "End") target = points.length - 1;
        else if (event.key === "Enter" || event.key === " ") target = i;
        if (target === null) return;
        event.preventDefault();
        target = Math.max(0, Math.min(points.length - 1, target));
        options.onSelect(points[target].key, true);
      });
      barNodes.push(group);
      bars.append(group);
    });
    root.append(bars);

    var line = points.map(function (point, i) { return x(i) + "," + yLogins(point.logins); }).join(" ");
    var logs = svg("g", { "class": "logins", "aria-hidden": "true" }, [svg("polyline", { points: line })]);
    points.forEach(function (point, i) {
      logs.append(svg("circle", { cx: x(i), cy: yLogins(point.logins), r: 3.5 }));
    });
    root.append(logs);
    root.append(svg("line", {
      "class": "baseline", x1: margin.left, x2: width - margin.right,
      y1: margin.top + plotH, y2: margin.top + plotH, "aria-hidden": "true"
    }));
    root.focusSelected = function () {
      var node = barNodes.filter(function (n) { return n.getAttribute("tabindex") === "0"; })[0];
      if (node) node.focus();
    };
    return root;
  }

  function ring(percent, label) {
    var size = 96, stroke = 10, r = (size - stroke) / 2, c = 2 * Math.PI * r;
    var value = Math.max(0, Math.min(100, percent));
    return svg("svg", { "class": "ring", width: size, height: size, viewBox: "0 0 " + size + " " + size, role: "img", "aria-label": label }, [
      svg("circle", { "class": "ring-track", cx: size / 2, cy: size / 2, r: r, "stroke-width": stroke }),
      // None at 0 %: a round cap would still draw a dot.
      value > 0 ? svg("circle", {
        "class": "ring-value", cx: size / 2, cy: size / 2, r: r, "stroke-width": stroke,
        "stroke-dasharray": (c * value / 100) + " " + c,
        transform: "rotate(-90 " + size / 2 + " " + size / 2 + ")"
      }) : null,
      svg("text", { x: size / 2, y: size / 2 + 6, "text-anchor": "middle", "class": "ring-text", "aria-hidden": "true" }, [label])
    ]);
  }

  window.DefinumCharts = { months: months, ring: ring };
})();
