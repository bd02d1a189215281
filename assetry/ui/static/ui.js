// assetry ui: live updates. Polls /api/version; when the catalog changed, the graph's
// boxes are recoloured from /api/assets, and other pages swap in their fresh content.
// Plain script, no library, shipped in the wheel. Text from the catalog is only ever set
// with textContent or attributes here; the HTML swapped in is the server's, escaped there.
(function () {
  "use strict";
  var POLL_MS = 700;
  var content = document.getElementById("content");
  var live = document.getElementById("live");
  if (!content) { return; }
  var page = document.body.getAttribute("data-page");
  var version = content.getAttribute("data-version");
  var busy = false;
  var nodes = null;  // graph page: name -> <g class="node">

  function graphNodes() {
    if (nodes === null) {
      nodes = new Map();
      document.querySelectorAll("svg.graph g.node").forEach(function (g) {
        nodes.set(g.getAttribute("data-name"), g);
      });
    }
    return nodes;
  }

  function showRun(run) {
    if (!live) { return; }
    if (run) {
      live.setAttribute("data-running", "yes");
      live.textContent = "run " + run.run_id.slice(0, 8) + " in progress · " + run.recorded + " steps recorded";
    } else {
      live.setAttribute("data-running", "no");
      live.textContent = "no run in progress";
    }
  }

  function updateGraph(list) {
    var known = graphNodes();
    if (list.length !== known.size || list.some(function (n) { return !known.has(n.asset); })) {
      window.location.reload();  // the graph itself changed: lay it out again
      return;
    }
    var counts = {};
    list.forEach(function (n) {
      counts[n.state] = (counts[n.state] || 0) + 1;
      var g = known.get(n.asset);
      if (g.getAttribute("data-state") !== n.state) { g.setAttribute("data-state", n.state); }
      var detail = g.querySelector("text.detail");
      if (detail && detail.textContent !== n.detail) { detail.textContent = n.detail; }
      var title = g.querySelector("title");
      if (title) { title.textContent = n.asset + ": " + n.state + " (" + n.reason + ")"; }
    });
    document.querySelectorAll("[data-count]").forEach(function (b) {
      b.textContent = String(counts[b.getAttribute("data-count")] || 0);
    });
    updateUnfresh(list);
  }

  function updateUnfresh(list) {
    var table = document.getElementById("unfresh");
    if (!table) { return; }
    var body = table.querySelector("tbody");
    var rows = list.filter(function (n) { return n.state !== "fresh"; }).slice(0, 200);
    var fresh = document.createElement("tbody");
    rows.forEach(function (n) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-state", n.state);
      var a = document.createElement("a");
      a.href = "/assets/" + encodeURIComponent(n.asset);
      a.textContent = n.asset;
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.setAttribute("data-state", n.state);
      badge.textContent = n.state;
      var reason = document.createElement("td");
      reason.className = "reason";
      reason.textContent = n.reason;
      var c1 = document.createElement("td"); c1.appendChild(a);
      var c2 = document.createElement("td"); c2.appendChild(badge);
      tr.appendChild(c1); tr.appendChild(c2); tr.appendChild(reason);
      fresh.appendChild(tr);
    });
    table.replaceChild(fresh, body);
  }

  function swapContent() {
    return fetch(window.location.pathname, { headers: { "X-Assetry-Fragment": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var open = Array.prototype.map.call(content.querySelectorAll("details[open]"), function (d) {
          return d.closest("section") ? d.closest("section").id : "";
        });
        content.innerHTML = html;
        open.forEach(function (id) {
          var d = id && document.querySelector("#" + id + " details");
          if (d) { d.open = true; }
        });
      });
  }

  function refresh() {
    if (page === "graph") {
      return fetch("/api/assets").then(function (r) { return r.ok ? r.json() : null; })
        .then(function (list) { if (list) { updateGraph(list); } });
    }
    return swapContent();
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/api/version", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v) { return null; }
        showRun(v.run);
        if (v.version === version) { return null; }
        version = v.version;
        content.setAttribute("data-version", version);
        return refresh();
      })
      .catch(function () {
        if (live) { live.setAttribute("data-running", "no"); live.textContent = "disconnected"; }
      })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, POLL_MS);
})();
