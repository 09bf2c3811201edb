/* definum-gql dashboard (our own file, GPL-3.0-or-later).
 *
 * Reads the site only through /graphql, with the documents of the project's queries/ folder
 * (served beside this file). The token lives in sessionStorage: it is sent in the Authorization
 * header and nowhere else (never in a URL, never written to the console). Views are addressed by
 * the URL's fragment: #/ (the site), #/learner/ID?month=YYYY-MM&time=dedication, #/course/ID.
 */
(function () {
  "use strict";

  var app = document.getElementById("app");
  var main = document.getElementById("main");
  var searchSlot = document.getElementById("search-slot");
  var account = document.getElementById("account");
  var ENDPOINT = app.getAttribute("data-endpoint");
  var QUERIES = app.getAttribute("data-queries");
  var DEMO_TOKEN = app.getAttribute("data-token") || "";
  var DEMO_LEARNER = app.getAttribute("data-learner") || "";
  var STORAGE_KEY = "definum-gql.token";
  var SEARCH_PAGE = 10;
  var COURSE_PAGE = 20;
  var SITE_PAGE = 50;

  // Dates and numbers in the browser's language (undefined: the browser's own choice).
  var LOCALE = undefined;
  var dateTimeFormat = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short" });
  var dateFormat = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium" });
  var monthLongFormat = new Intl.DateTimeFormat(LOCALE, { month: "long", year: "numeric", timeZone: "UTC" });
  var monthShortFormat = new Intl.DateTimeFormat(LOCALE, { month: "short", timeZone: "UTC" });
  var monthYearShortFormat = new Intl.DateTimeFormat(LOCALE, { month: "short", year: "2-digit", timeZone: "UTC" });
  var numberFormat = new Intl.NumberFormat(LOCALE);
  var percentFormat = new Intl.NumberFormat(LOCALE, { style: "percent" });
  var dateLanguage = dateFormat.resolvedOptions().locale;

  var ALGORITHMS = {
    use_stats: {
      name: "use_stats",
      sentence: "use_stats (block_use_stats) counts, for every log row, the time until the next " +
        "one, a gap longer than the site's threshold earning only the last-ping credit: the " +
        "number the legacy definum_get_stats document shows."
    },
    dedication: {
      name: "dedication",
      sentence: "dedication (block_dedication) counts sessions, split at gaps of more than an " +
        "hour, each from its first to its last log row; sessions of two minutes or less count " +
        "nothing."
    }
  };

  // ---------------------------------------------------------------- small helpers

  function h(tag, props) {
    var el = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") el.textContent = value;
      else if (key === "class") el.className = value;
      else if (key.slice(0, 2) === "on") el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.append(child instanceof Node ? child : String(child));
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function duration(seconds) {
    // As the API writes it (timeSpentText): "3h 38m 20s", "48m 0s", "41s", "0s".
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60), secs = seconds % 60;
    if (hours) return hours + "h " + minutes + "m " + secs + "s";
    if (minutes) return minutes + "m " + secs + "s";
    return secs + "s";
  }

  function monthDate(key) {
    var parts = key.split("-");
    return new Date(Date.UTC(Number(parts[0]), Number(parts[1]) - 1, 15));
  }
  function monthLong(key) { return monthLongFormat.format(monthDate(key)); }
  function monthShort(key, withYear) {
    return (withYear ? monthYearShortFormat : monthShortFormat).format(monthDate(key));
  }
  function lastMonths(current, count) {
    var parts = current.split("-"), year = Number(parts[0]), month = Number(parts[1]);
    var keys = [];
    for (var i = count - 1; i >= 0; i--) {
      var m = month - i, y = year;
      while (m < 1) { m += 12; y -= 1; }
      keys.push(y + "-" + (m < 10 ? "0" : "") + m);
    }
    return keys;
  }

  function timeElement(iso, format) {
    return h("time", { datetime: iso, lang: dateLanguage, text: (format || dateTimeFormat).format(new Date(iso)) });
  }

  function count(n) { return numberFormat.format(n); }
  function percent(n) { return percentFormat.format(n / 100); }

  function loading(text) {
    return h("p", { "class": "status loading", role: "status", text: text || "Loading…" });
  }

  function courseLabel(courseId, course) {
    if (courseId === 0) return "The site, outside courses";
    return course ? course.fullname : "Course " + courseId + " (hidden)";
  }

  // ---------------------------------------------------------------- the API

  function ApiError(sentence, code, options) {
    this.message = sentence;
    this.code = code;
    this.auth = !!(options && options.auth);
    this.retry = !!(options && options.retry);
  }
  ApiError.prototype = Object.create(Error.prototype);

  var documents = {};
  function documentText(name) {
    if (!documents[name]) {
      documents[name] = fetch(QUERIES + name + ".graphql", { cache: "no-cache" }).then(function (answer) {
        if (!answer.ok) throw new ApiError("The page could not load its query " + name + " (HTTP " + answer.status + "): reload the page.", "DOCUMENT", { retry: true });
        return answer.text();
      }, function () {
        delete documents[name];
        throw new ApiError("The server could not be reached: check the connection, then try again.", "NETWORK", { retry: true });
      });
    }
    return documents[name];
  }

  function sentenceFor(error, status) {
    var ext = (error && error.extensions) || {};
    var code = ext.code || "";
    var message = (error && error.message) || "";
    switch (code) {
      case "MISSING_TOKEN":
        return new ApiError("Sign in with a Moodle web service token to see the dashboard.", code, { auth: true });
      case "INVALID_TOKEN":
        return new ApiError("This token was not accepted: check that it is a whole web service token of the definum service, then sign in again.", code, { auth: true });
      case "TOKEN_EXPIRED":
        return new ApiError("This token has expired: ask your Moodle administrator for a new one, then sign in again.", code, { auth: true });
      case "IP_NOT_ALLOWED":
        return new ApiError("This token may not be used from your network address: it is restricted to other addresses.", code, { auth: true });
      case "WEB_SERVICES_DISABLED":
        return new ApiError("Web services are turned off on this Moodle site, so the dashboard cannot read it: an administrator can turn them on.", code, { auth: true });
      case "SITE_MAINTENANCE":
        return new ApiError("The Moodle site is undergoing maintenance: try again later.", code, { retry: true });
      case "DATABASE_UNAVAILABLE":
        return new ApiError("The Moodle database is unavailable right now: try again in a moment.", code, { retry: true });
      case "QUERY_TIMEOUT":
        return new ApiError("The database took too long to answer: try again in a moment.", code, { retry: true });
      case "FORBIDDEN":
        if (status === 403) return new ApiError(message || "This token may not be used here.", code, { auth: true });
        return new ApiError("Your token may not read this" + (ext.capability ? " (it needs the capability " + ext.capability + ")" : ext.service ? " (its service reads its owner only)" : "") + ".", code);
      case "INTERNAL_SERVER_ERROR":
        return new ApiError("The server met an unexpected error" + (ext.requestId ? " (request " + ext.requestId + ", in its log)" : "") + ": try again, and tell the administrator if it happens again.", code, { retry: true });
      default:
        if (message) return new ApiError(message.charAt(message.length - 1) === "." ? message : message + ".", code || "ERROR", { retry: true });
        return new ApiError("The server answered HTTP " + status + " without saying why: try again in a moment.", "HTTP", { retry: true });
    }
  }

  // A field-level refusal (a FORBIDDEN e-mail, say) leaves the rest of the answer usable; so do
  // errors under the paths in `optional`.
  function harmless(error, optional) {
    var path = error.path || [];
    var code = (error.extensions || {}).code;
    if (path.length && optional && optional.indexOf(path[0]) !== -1) return true;
    return code === "FORBIDDEN" && path.length > 1;
  }

  function gql(name, variables, optional) {
    var token = pendingToken || sessionStorage.getItem(STORAGE_KEY) || "";
    return documentText(name).then(function (query) {
      return fetch(ENDPOINT, {
        method: "POST",
        cache: "no-store",
        credentials: "omit",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer " + token },
        body: JSON.stringify({ query: query, variables: variables || {} })
      }).catch(function () {
        throw new ApiError("The server could not be reached: check the connection, then try again.", "NETWORK", { retry: true });
      });
    }).then(function (answer) {
      return answer.json().catch(function () {
        throw new ApiError("The server answered HTTP " + answer.status + " with something that is not GraphQL: try again in a moment.", "HTTP", { retry: true });
      }).then(function (body) {
        var errors = body.errors || [];
        var serious = errors.filter(function (e) { return !harmless(e, optional); });
        if (serious.length || !body.data) throw sentenceFor(serious[0] || errors[0], answer.status);
        return body.data;
      });
    }).catch(function (error) {
      if (error instanceof ApiError && error.auth && !pendingToken) signOut(error.message);
      throw error;
    });
  }

  // ---------------------------------------------------------------- sign-in

  var pendingToken = "";
  var me = null;

  function signedIn() { return !!sessionStorage.getItem(STORAGE_KEY); }

  function signOut(sentence) {
    sessionStorage.removeItem(STORAGE_KEY);
    me = null;
    showSignIn(sentence);
  }

  function showSignIn(sentence) {
    clear(searchSlot);
    clear(account);
    var input = h("input", {
      id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false",
      required: true, "aria-describedby": "token-help" + (sentence ? " sign-in-error" : "")
    });
    if (DEMO_TOKEN) input.value = DEMO_TOKEN;
    var error = sentence ? h("p", { id: "sign-in-error", "class": "error", role: "alert", text: sentence }) : null;
    var button = h("button", { type: "submit", text: "Sign in" });
    var form = h("form", { "class": "sign-in", method: "post", novalidate: true, onsubmit: function (event) {
      event.preventDefault();
      var token = input.value.trim();
      if (!token) { showSignIn("Paste a web service token first."); return; }
      button.disabled = true;
      button.textContent = "Signing in…";
      pendingToken = token;
      gql("me").then(function (data) {
        sessionStorage.setItem(STORAGE_KEY, token);
        pendingToken = "";
        me = data.me;
        start();
      }, function (failure) {
        pendingToken = "";
        showSignIn(failure.message);
        var again = document.getElementById("token");
        if (again) again.focus();
      });
    } },
      h("h1", { tabindex: "-1", text: "Sign in" }),
      error,
      h("label", { "for": "token", text: "Moodle web service token" }),
      input,
      h("p", { id: "token-help", "class": "help",
        text: DEMO_TOKEN
          ? "This is the demo site: its token is filled in. Press Sign in."
          : "A token of the definum service (Site administration › Server › Web services › Manage tokens). It is kept in this tab only, until you sign out or close it." }),
      button
    );
    clear(main).append(form);
    if (!sentence) (DEMO_TOKEN ? button : input).focus();
  }

  function showAccount() {
    clear(account);
    var who = me ? me.fullname : "authentication off";
    account.append(
      h("span", { "class": "who", text: "Signed in: " + who }),
      h("button", { type: "button", "class": "link", text: "Sign out", onclick: function () { signOut(); } })
    );
  }

  // ---------------------------------------------------------------- learner search

  var search = { input: null, panel: null, text: "", sequence: 0, timer: 0, after: null, list: null };

  function showSearch() {
    clear(searchSlot);
    var input = h("input", {
      id: "search", type: "search", autocomplete: "off", spellcheck: "false",
      placeholder: "Search a learner", "aria-label": "Search a learner by name, e-mail, username or ID number",
      "aria-controls": "search-results", "aria-expanded": "false"
    });
    var panel = h("div", { id: "search-results", "class": "search-results", hidden: true });
    input.addEventListener("input", function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(function () { runSearch(input.value.trim(), null); }, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); moveInResults(0); }
      else if (event.key === "Escape") { closeSearch(); }
      else if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(search.timer);
        runSearch(input.value.trim(), null);
      }
    });
    panel.addEventListener("keydown", function (event) {
      var links = Array.prototype.slice.call(panel.querySelectorAll("a"));
      var at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown") { event.preventDefault(); moveInResults(at + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); if (at <= 0) input.focus(); else moveInResults(at - 1); }
      else if (event.key === "Escape") { closeSearch(); input.focus(); }
    });
    var form = h("form", { role: "search", "class": "search", onsubmit: function (e) { e.preventDefault(); } }, input, panel);
    searchSlot.append(form);
    search.input = input;
    search.panel = panel;
  }

  function moveInResults(index) {
    var links = search.panel.querySelectorAll("a");
    if (links.length) links[Math.min(index, links.length - 1)].focus();
  }

  function closeSearch() {
    search.sequence += 1;
    search.panel.hidden = true;
    search.input.setAttribute("aria-expanded", "false");
  }

  function runSearch(text, after) {
    var sequence = ++search.sequence;
    var panel = search.panel;
    if (!text) { closeSearch(); return; }
    panel.hidden = false;
    search.input.setAttribute("aria-expanded", "true");
    if (!after) {
      search.text = text;
      clear(panel).append(loading("Searching…"));
      search.list = null;
    }
    var single = text.indexOf(" ") === -1;
    var variables = { search: text, first: SEARCH_PAGE, after: after, idnumber: single ? text : "", withIdnumber: single && !after };
    gql("learner_search", variables, ["byIdnumber"]).then(function (data) {
      if (sequence !== search.sequence) return;  // a later keystroke asked again
      var users = data.users;
      var nodes = users.edges.map(function (edge) { return edge.node; });
      if (data.byIdnumber && !nodes.some(function (n) { return n.id === data.byIdnumber.id; })) nodes.unshift(data.byIdnumber);
      if (!after) {
        clear(panel);
        var total = users.totalCount + (data.byIdnumber && nodes[0] === data.byIdnumber ? 1 : 0);
        panel.append(h("p", { "class": "count", role: "status", text: total === 0
          ? "No learner matches “" + text + "”."
          : (total === 1 ? "1 learner matches" : count(total) + " learners match") + " “" + text + "”." }));
        search.list = h("ul", { "class": "results" });
        panel.append(search.list);
      } else {
        var old = panel.querySelector("button.more");
        if (old) old.remove();
      }
      nodes.forEach(function (node) {
        var details = [node.username, node.email, node.idnumber].filter(Boolean).join(" · ");
        search.list.append(h("li", {}, h("a", { href: "#/learner/" + node.id, "data-testid": "search-result", onclick: closeSearch },
          h("span", { "class": "name", text: node.fullname }), details ? h("span", { "class": "details", text: details }) : null)));
      });
      if (users.pageInfo.hasNextPage) {
        panel.append(h("button", { type: "button", "class": "more", text: "More results", onclick: function () {
          runSearch(search.text, users.pageInfo.endCursor);
        } }));
      }
    }, function (failure) {
      if (sequence !== search.sequence) return;
      clear(panel).append(h("p", { "class": "error", role: "alert", text: failure.message }));
    });
  }

  // ---------------------------------------------------------------- views

  function parseRoute() {
    var hash = location.hash.replace(/^#/, "") || "/";
    var query = {};
    var at = hash.indexOf("?");
    if (at !== -1) {
      hash.slice(at + 1).split("&").forEach(function (pair) {
        var kv = pair.split("=");
        if (kv[0]) query[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || "");
      });
      hash = hash.slice(0, at);
    }
    var parts = hash.split("/").filter(Boolean);
    return { view: parts[0] || "site", id: parts[1] || "", query: query };
  }

  function learnerHash(id, month, algorithm) {
    var params = [];
    if (month) params.push("month=" + month);
    if (algorithm && algorithm !== "use_stats") params.push("time=" + algorithm);
    return "#/learner/" + id + (params.length ? "?" + params.join("&") : "");
  }

  function errorBox(failure, retry) {
    var box = h("div", { "class": "error", role: "alert" }, h("p", { text: failure.message }));
    if (failure.retry && retry) box.append(h("button", { type: "button", text: "Try again", onclick: retry }));
    return box;
  }

  function fail(container, retry) {
    return function (failure) {
      if (!(failure instanceof ApiError)) {
        failure = new ApiError("The page met an error it did not expect (" + (failure && failure.message) + "): reload it.", "PAGE", {});
      }
      if (failure.auth) return;  // the sign-in form is showing, with the sentence
      clear(container).append(errorBox(failure, retry));
      container.removeAttribute("aria-busy");
    };
  }

  var current = null;  // the learner view on screen, kept while only its month or algorithm changes

  var routed = false;
  function route() {
    if (!signedIn()) { showSignIn(); return; }
    // In-page anchors (the skip link's #main) are not views: keep the one on screen.
    if (routed && location.hash && location.hash.indexOf("#/") !== 0) return;
    routed = true;
    var where = parseRoute();
    if (where.view === "learner") {
      if (current && current.id === where.id && current.ready) { current.update(where.query); return; }
      learnerView(where.id, where.query);
    } else if (where.view === "course") {
      current = null;
      courseView(where.id);
    } else {
      current = null;
      siteView();
    }
  }

  function heading(text) { return h("h1", { tabindex: "-1", text: text }); }
  function focusHeading() {
    var title = main.querySelector("h1");
    if (title && document.activeElement !== search.input) title.focus({ preventScroll: false });
  }

  // -- the site

  function siteView() {
    var body = h("div", { "aria-busy": "true" }, loading("Loading the courses…"));
    clear(main).append(
      heading("This month on the site"),
      h("p", { "class": "lede" }, "Learners active and time spent (use_stats) in each course since the start of this month, with completion. Search a learner above, or open a course.",
        DEMO_LEARNER ? [" ", h("button", { type: "button", "class": "link", text: "Find the demo learner " + DEMO_LEARNER, onclick: function (event) {
          event.stopPropagation();  // the click outside the search would close its results
          search.input.value = DEMO_LEARNER;
          search.input.focus();
          runSearch(DEMO_LEARNER, null);
        } })] : null),
      body
    );
    focusHeading();
    var rows = null, totals = { time: 0 }, chart = null;
    function page(after) {
      return gql("course_completion_report", { first: SITE_PAGE, after: after }).then(function (data) {
        var courses = data.courses;
        if (!courses) throw new ApiError("Your token may not list courses (it reads its owner only).", "FORBIDDEN", {});
        if (!rows) {
          clear(body);
          body.removeAttribute("aria-busy");
          if (!courses.totalCount) { body.append(h("p", { "class": "empty", text: "No course on this site yet." })); return; }
          chart = h("div", { "class": "hbars", "data-testid": "site-time-chart" });
          rows = h("tbody");
          body.append(
            h("p", { "class": "count", text: count(courses.totalCount) + (courses.totalCount === 1 ? " course" : " courses") }),
            h("h2", { text: "Time spent this month, by course" }),
            chart,
            h("h2", { text: "Courses" }),
            h("div", { "class": "table-wrap" }, h("table", { "data-testid": "site-courses" },
              h("thead", {}, h("tr", {},
                h("th", { scope: "col", text: "Course" }),
                h("th", { scope: "col", "class": "num", text: "Learners" }),
                h("th", { scope: "col", "class": "num", text: "Completion" }),
                h("th", { scope: "col", "class": "num", text: "Active this month" }),
                h("th", { scope: "col", "class": "num", text: "Time this month" }))),
              rows))
          );
        }
        courses.edges.forEach(function (edge) {
          var c = edge.node;
          totals.time = Math.max(totals.time, c.timeSpentThisMonth || 0);
          rows.append(h("tr", { "data-course": c.id },
            h("th", { scope: "row" }, h("a", { href: "#/course/" + c.id, text: c.fullname })),
            h("td", { "class": "num", "data-label": "Learners", text: c.enrolledLearners === null ? "—" : count(c.enrolledLearners) }),
            h("td", { "class": "num", "data-label": "Completion", text: c.completionRate === null ? "not tracked" : percent(c.completionRate) }),
            h("td", { "class": "num", "data-label": "Active this month", "data-field": "active", text: c.activeLearnersThisMonth === null ? "—" : count(c.activeLearnersThisMonth) }),
            h("td", { "class": "num", "data-label": "Time this month", "data-field": "time", text: c.timeSpentThisMonthText === null ? "—" : c.timeSpentThisMonthText })));
          chart.append(hbar(c.fullname, "#/course/" + c.id, c.timeSpentThisMonth || 0, c.timeSpentThisMonthText || "0s"));
        });
        // Largest first, over every page shown so far.
        Array.prototype.slice.call(chart.children).sort(function (one, other) {
          return Number(other.querySelector(".fill").getAttribute("data-value")) - Number(one.querySelector(".fill").getAttribute("data-value"));
        }).forEach(function (bar) { chart.append(bar); });
        rescaleBars(chart, totals.time);
        var more = body.querySelector("button.more");
        if (more) more.remove();
        if (courses.pageInfo.hasNextPage) {
          body.append(h("button", { type: "button", "class": "more", text: "More courses", onclick: function (event) {
            event.target.disabled = true;
            page(courses.pageInfo.endCursor).catch(fail(body, siteView));
          } }));
        }
      });
    }
    page(null).catch(function (failure) {
      fail(body, siteView)(failure);
      // A token of a self service reads its owner only: show the way there.
      if (failure.code === "FORBIDDEN" && me) {
        body.append(h("p", {}, h("a", { href: "#/learner/" + me.id, text: "See your own figures" })));
      }
    });
  }

  function hbar(label, href, value, text) {
    var fill = h("span", { "class": "fill", "data-value": value });
    return h("div", { "class": "hbar" },
      href ? h("a", { "class": "label", href: href, text: label }) : h("span", { "class": "label", text: label }),
      h("span", { "class": "track", "aria-hidden": "true" }, fill),
      h("span", { "class": "value", text: text }));
  }

  function rescaleBars(container, max) {
    container.querySelectorAll(".fill").forEach(function (fill) {
      var value = Number(fill.getAttribute("data-value"));
      fill.style.width = (max > 0 ? (100 * value / max) : 0) + "%";
    });
  }

  // -- a course

  function courseView(id) {
    var body = h("div", { "aria-busy": "true" }, loading("Loading the course…"));
    clear(main).append(heading("Course"), body);
    focusHeading();
    if (!/^\d+$/.test(id)) {
      body.removeAttribute("aria-busy");
      clear(body).append(errorBox(new ApiError("There is no course " + JSON.stringify(id) + ": course addresses end with the course's number.", "NOT_FOUND", {})));
      return;
    }
    var courseId = Number(id), rows = null, shown = 0;
    function page(after) {
      return gql("course_learners", { course: courseId, first: COURSE_PAGE, after: after }).then(function (data) {
        var course = data.course;
        if (!course) {
          body.removeAttribute("aria-busy");
          clear(body).append(errorBox(new ApiError("There is no course with id " + courseId + " on this site.", "NOT_FOUND", {})));
          return;
        }
        if (!rows) {
          main.querySelector("h1").textContent = course.fullname;
          clear(body);
          body.removeAttribute("aria-busy");
          var ring = course.completionRate === null
            ? h("p", { "class": "ring-none", text: "Completion is not tracked in this course." })
            : window.DefinumCharts.ring(course.completionRate, percent(course.completionRate));
          body.append(
            h("p", { "class": "lede", text: course.shortname }),
            h("div", { "class": "card course-card" }, ring,
              h("dl", { "class": "figures" },
                figure("Completion rate", course.completionRate === null ? "not tracked" : percent(course.completionRate), "completion-rate"),
                figure("Learners", course.enrolledLearners === null ? "—" : count(course.enrolledLearners), "learners"),
                figure("Completed", course.completedLearners === null ? "—" : count(course.completedLearners), "completed"),
                figure("Active this month", course.activeLearnersThisMonth === null ? "—" : count(course.activeLearnersThisMonth), "active"),
                figure("Time spent this month", course.timeSpentThisMonthText === null ? "—" : course.timeSpentThisMonthText, "time"))),
            h("h2", { text: "Learners" })
          );
          if (!data.users || !data.users.totalCount) {
            body.append(h("p", { "class": "empty", text: data.users ? "No learner is enrolled in this course." : "Your token may not list this course's learners." }));
            return;
          }
          rows = h("tbody");
          body.append(
            h("p", { "class": "count", "data-testid": "course-learner-count" }),
            h("div", { "class": "table-wrap" }, h("table", { "data-testid": "course-learners" },
              h("thead", {}, h("tr", {},
                h("th", { scope: "col", text: "Learner" }),
                h("th", { scope: "col", text: "Completion" }),
                h("th", { scope: "col", "class": "num", text: "Time in the course this month" }))),
              rows))
          );
        }
        var users = data.users;
        users.edges.forEach(function (edge) {
          var u = edge.node;
          var enrolment = (u.enrolments || []).filter(function (e) { return e.course && e.course.id === courseId; })[0];
          var done = enrolment && enrolment.completion && enrolment.completion.completed;
          var completion = !course.completionEnabled ? "not tracked"
            : done ? h("span", {}, "Completed ", enrolment.completion.timeCompleted ? timeElement(enrolment.completion.timeCompleted, dateFormat) : null)
            : "Not completed";
          var spent = (u.activity ? u.activity.byCourse : []).filter(function (t) { return t.courseId === courseId; })[0];
          rows.append(h("tr", { "data-learner": u.id },
            h("th", { scope: "row" }, h("a", { href: "#/learner/" + u.id, text: u.fullname })),
            h("td", { "data-label": "Completion", "data-field": "completion" }, completion),
            h("td", { "class": "num", "data-label": "Time this month", "data-field": "time", text: spent ? spent.timeSpentText : "0s" })));
          shown += 1;
        });
        body.querySelector("[data-testid=course-learner-count]").textContent =
          "Showing " + count(shown) + " of " + count(users.totalCount) + (users.totalCount === 1 ? " learner." : " learners.");
        var more = body.querySelector("button.more");
        if (more) more.remove();
        if (users.pageInfo.hasNextPage) {
          body.append(h("button", { type: "button", "class": "more", text: "More learners", onclick: function (event) {
            event.target.disabled = true;
            event.target.textContent = "Loading…";
            page(users.pageInfo.endCursor).catch(fail(body, function () { courseView(id); }));
          } }));
        }
      });
    }
    page(null).catch(fail(body, function () { courseView(id); }));
  }

  function figure(label, value, field) {
    return h("div", { "class": "figure" }, h("dt", { text: label }), h("dd", { "data-field": field }, value));
  }

  // -- a learner

  function learnerView(id, query) {
    current = null;
    var card = h("section", { "class": "card learner-card", "aria-busy": "true", "aria-label": "Learner" }, loading("Loading the learner…"));
    clear(main).append(heading("Learner"), card);
    focusHeading();
    if (!/^\d+$/.test(id)) {
      noSuchLearner(card, id);
      return;
    }
    gql("learner_dashboard", { by: "ID", value: id }).then(function (data) {
      var user = data.user;
      if (!user) { noSuchLearner(card, id); return; }
      main.querySelector("h1").textContent = user.fullname;
      document.title = user.fullname + " · definum-gql dashboard";
      fillCard(card, user);
      var view = learnerActivity(user, query);
      current = view;
    }).catch(fail(card, function () { learnerView(id, query); }));
  }

  function noSuchLearner(card, id) {
    card.removeAttribute("aria-busy");
    clear(card).append(errorBox(new ApiError(/^\d+$/.test(id)
      ? "There is no learner with id " + id + " on this site (or the account was deleted)."
      : "There is no learner " + JSON.stringify(id) + ": learner addresses end with the learner's number; search by name above.", "NOT_FOUND", {})));
  }

  function fillCard(card, user) {
    var stats = user.definumStats;
    clear(card);
    card.removeAttribute("aria-busy");
    card.append(
      window.DefinumCharts.ring(stats.finishedCoursesRatio, percent(stats.finishedCoursesRatio)),
      h("dl", { "class": "figures" },
        figure("Last login", user.lastLogin ? timeElement(user.lastLogin) : "Never", "last-login"),
        figure("Courses", count(stats.courses), "courses"),
        figure("Finishable", count(stats.finishableCourses), "finishable"),
        figure("Finished", count(stats.finishedCourses), "finished"),
        figure("Completion", percent(stats.finishedCoursesRatio), "ratio")),
      h("div", { "class": "badges" },
        h("h2", { text: "Badges" }),
        user.badges.length
          ? h("ul", { "data-testid": "badges" }, user.badges.map(function (issued) {
            var badge = issued.badge;
            return h("li", {},
              h("span", { "class": "badge-name", text: badge.name }),
              h("span", { "class": "details" },
                badge.issuerName ? "from " + badge.issuerName : "no issuer named",
                issued.dateIssued ? [", ", timeElement(issued.dateIssued, dateFormat)] : null,
                issued.expired ? " (expired)" : null));
          }))
          : h("p", { "class": "empty", text: "No badges yet." }))
    );
  }

  function learnerActivity(user, query) {
    var id = String(user.id);
    var thisMonth = user.activity.month;  // the site's current month (its timezone, its clock)
    var months = lastMonths(thisMonth, 12);
    var state = { id: id, ready: true, month: thisMonth, algorithm: "use_stats" };
    var history = null, dedication = null, dedicationAsked = null, monthSequence = 0;

    var algorithmNote = h("p", { "class": "help", id: "algorithm-note", "data-testid": "algorithm-sentence" });
    var radios = ["use_stats", "dedication"].map(function (name) {
      var input = h("input", { type: "radio", name: "algorithm", value: name, id: "algorithm-" + name, onchange: function () {
        location.hash = learnerHash(id, state.month === thisMonth ? "" : state.month, name);
      } });
      return h("label", { "for": "algorithm-" + name, "class": "choice" }, input, " " + name);
    });
    var picker = h("select", { id: "month-picker", onchange: function () {
      location.hash = learnerHash(id, picker.value === thisMonth ? "" : picker.value, state.algorithm);
    } }, months.slice().reverse().map(function (key) {
      return h("option", { value: key, text: monthLong(key) + (key === thisMonth ? " (partial)" : "") });
    }));
    var chartBox = h("div", { "class": "chart-box", "aria-busy": "true" }, loading("Loading 12 months…"));
    var table = h("div", { "class": "chart-table" });
    var monthBox = h("section", { "class": "card month", "aria-live": "polite", "aria-label": "Selected month" });

    main.append(
      h("section", { "class": "activity" },
        h("h2", { text: "Time spent and logins, last 12 months" }),
        h("div", { "class": "controls" },
          h("fieldset", { "class": "algorithm" }, h("legend", { text: "Time counted by" }), radios),
          h("label", { "class": "picker", "for": "month-picker" }, "Month ", picker)),
        algorithmNote,
        h("figure", {}, chartBox,
          h("figcaption", { "class": "legend" },
            h("span", { "class": "key bars-key", "aria-hidden": "true" }), " time spent  ",
            h("span", { "class": "key line-key", "aria-hidden": "true" }), " logins  ",
            h("span", { "class": "key partial-key", "aria-hidden": "true" }), " current month (partial)"),
          h("details", {}, h("summary", { text: "The figures as a table" }), table))),
      monthBox
    );

    function values() {
      return months.map(function (key, i) {
        var point = history[i];
        var seconds = state.algorithm === "dedication" ? dedication[i] : point.timeSpent;
        return { key: key, seconds: seconds, logins: point.logins, activeDays: point.activeDays, partial: key === thisMonth };
      });
    }

    function drawChart(keyboard) {
      if (!history || (state.algorithm === "dedication" && !dedication)) return;
      var points = values().map(function (p, i) {
        p.label = monthLong(p.key);
        p.shortLabel = monthShort(p.key, i === 0 || p.key.slice(5) === "01");
        p.description = p.label + (p.partial ? " (partial)" : "") + ": " + duration(p.seconds) + ", " + count(p.logins) + (p.logins === 1 ? " login" : " logins");
        return p;
      });
      var width = chartBox.clientWidth || 600;
      var chart = window.DefinumCharts.months({
        points: points, selected: state.month, width: width,
        title: "Time spent (" + state.algorithm + ") and logins per month",
        onSelect: function (key, viaKeyboard) {
          focusChart = viaKeyboard;
          location.hash = learnerHash(id, key === thisMonth ? "" : key, state.algorithm);
        }
      });
      chartBox.removeAttribute("aria-busy");
      clear(chartBox).append(chart);
      if (keyboard) chart.focusSelected();
      clear(table).append(h("div", { "class": "table-wrap" }, h("table", { "data-testid": "month-table", "data-algorithm": state.algorithm },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col", text: "Month" }),
          h("th", { scope: "col", "class": "num", text: "Time spent (" + state.algorithm + ")" }),
          h("th", { scope: "col", "class": "num", text: "Logins" }),
          h("th", { scope: "col", "class": "num", text: "Active days" }))),
        h("tbody", {}, points.map(function (p) {
          return h("tr", { "data-month": p.key },
            h("th", { scope: "row", text: p.label + (p.partial ? " (partial)" : "") }),
            h("td", { "class": "num", "data-label": "Time spent", "data-field": "time", text: duration(p.seconds) }),
            h("td", { "class": "num", "data-label": "Logins", "data-field": "logins", text: count(p.logins) }),
            h("td", { "class": "num", "data-label": "Active days", "data-field": "active-days", text: count(p.activeDays) }));
        })))));
    }
    var focusChart = false;

    function loadHistory() {
      chartBox.setAttribute("aria-busy", "true");
      clear(chartBox).append(loading("Loading 12 months…"));
      gql("monthly_activity_chart", { by: "ID", value: id, from: months[0], to: months[months.length - 1] }).then(function (data) {
        history = data.user.activityHistory;
        drawChart(false);
      }).catch(fail(chartBox, loadHistory));
    }

    function loadDedication() {
      if (dedication || dedicationAsked) return;
      var variables = { by: "ID", value: id, algorithm: "DEDICATION" };
      months.forEach(function (key, i) { variables["m" + (i + 1)] = key; });
      chartBox.setAttribute("aria-busy", "true");
      clear(chartBox).append(loading("Counting dedication over 12 months…"));
      dedicationAsked = gql("learner_time_by_month", variables).then(function (data) {
        dedication = months.map(function (key, i) { return data.user["m" + (i + 1)]; });
        drawChart(false);
      }).catch(function (failure) {
        dedicationAsked = null;
        fail(chartBox, loadDedication)(failure);
      });
    }

    var monthData = {};  // month -> the user of learner_month: switching algorithms asks nothing
    function loadMonth() {
      var sequence = ++monthSequence;
      var month = state.month;
      if (monthData[month]) { fillMonth(monthData[month].activity, monthData[month].dedication); return; }
      monthBox.setAttribute("aria-busy", "true");
      monthBox.removeAttribute("data-month");
      monthBox.removeAttribute("data-algorithm");
      clear(monthBox).append(h("h2", { text: monthLong(month) }), loading("Loading " + monthLong(month) + "…"));
      gql("learner_month", { by: "ID", value: id, month: month }).then(function (data) {
        if (sequence !== monthSequence) return;
        monthData[month] = data.user;
        fillMonth(data.user.activity, data.user.dedication);
      }).catch(function (failure) {
        if (sequence !== monthSequence) return;
        fail(monthBox, loadMonth)(failure);
      });
    }

    function fillMonth(activity, dedicationSeconds) {
      var partial = activity.month === thisMonth;
      var time = state.algorithm === "dedication" ? duration(dedicationSeconds) : activity.timeSpentText;
      clear(monthBox);
      monthBox.removeAttribute("aria-busy");
      monthBox.setAttribute("data-month", activity.month);
      monthBox.setAttribute("data-algorithm", state.algorithm);
      monthBox.append(
        h("h2", {}, monthLong(activity.month), partial ? h("span", { "class": "tag", text: "partial month, up to now" }) : null),
        h("dl", { "class": "figures" },
          figure("Time spent (" + state.algorithm + ")", time, "month-time"),
          figure("Logins", count(activity.logins), "month-logins"),
          figure("Active days", count(activity.activeDays), "month-active-days")),
        h("h3", { text: "By course" + (state.algorithm === "dedication" ? " (counted by use_stats: the API splits only use_stats time by course)" : "") })
      );
      if (!activity.byCourse.length) {
        monthBox.append(h("p", { "class": "empty", "data-testid": "no-activity", text: partial ? "No activity this month." : "No activity in " + monthLong(activity.month) + "." }));
        return;
      }
      var bars = h("div", { "class": "hbars", "data-testid": "by-course" });
      var max = 0;
      activity.byCourse.forEach(function (t) {
        max = Math.max(max, t.timeSpent);
        var bar = hbar(courseLabel(t.courseId, t.course), t.courseId ? "#/course/" + t.courseId : null, t.timeSpent, t.timeSpentText);
        bar.setAttribute("data-course", t.courseId);
        bars.append(bar);
      });
      rescaleBars(bars, max);
      monthBox.append(bars);
    }

    function update(query) {
      var month = months.indexOf(query.month) !== -1 ? query.month : thisMonth;
      var algorithm = query.time === "dedication" ? "dedication" : "use_stats";
      var monthChanged = month !== state.month, algorithmChanged = algorithm !== state.algorithm;
      state.month = month;
      state.algorithm = algorithm;
      picker.value = month;
      radios.forEach(function (label) { var input = label.querySelector("input"); input.checked = input.value === algorithm; });
      algorithmNote.textContent = ALGORITHMS[algorithm].sentence;
      if (algorithm === "dedication" && !dedication) loadDedication();
      else drawChart(focusChart);
      focusChart = false;
      return { monthChanged: monthChanged, algorithmChanged: algorithmChanged };
    }

    var first = true;
    var view = {
      id: id,
      ready: true,
      update: function (query) {
        var changed = update(query);
        if (first || changed.monthChanged || changed.algorithmChanged) loadMonth();
        first = false;
      }
    };
    view.redraw = function () { drawChart(false); };
    loadHistory();
    view.update(query || {});
    return view;
  }

  // ---------------------------------------------------------------- start

  function start() {
    showAccount();
    showSearch();
    window.removeEventListener("hashchange", route);
    window.addEventListener("hashchange", route);
    route();
  }

  function unexpected() {
    if (!main.querySelector(".error")) {
      main.append(h("p", { "class": "error", role: "alert", text: "The page met an error it did not expect: reload it. If it happens again, GraphiQL (/graphql) still answers." }));
    }
  }
  window.addEventListener("error", unexpected);
  window.addEventListener("unhandledrejection", unexpected);
  window.addEventListener("resize", function () { if (current && current.redraw) current.redraw(); });
  document.addEventListener("click", function (event) {
    if (search.panel && !search.panel.hidden && !searchSlot.contains(event.target)) closeSearch();
  });

  if (!signedIn()) {
    showSignIn();
    window.addEventListener("hashchange", function () { if (!signedIn()) showSignIn(); });
    return;
  }
  gql("me").then(function (data) {
    me = data.me;
    start();
  }, function (failure) {
    if (failure.auth) return;
    clear(main).append(errorBox(failure, function () { location.reload(); }));
  });
})();
