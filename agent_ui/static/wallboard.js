/* The supervisor wallboard: live queues and agents over /supervisor, monitoring through the softphone. */
(function () {
  "use strict";
  var $ = CC.$, el = CC.el, show = CC.show, _ = CC._, num = CC.number;
  var queues = {}, agents = {}, alerts = {};
  var awayReasons = [{ code: "break", label: _("Break") }];
  var monitor = null;      // {call_sid, mode, call}
  var MODES = { listen: _("Listen"), whisper: _("Whisper"), barge: _("Barge") };
  var pendingMonitor = false;

  var socket = CC.connect("/supervisor", "connection");
  socket.on("snapshot", applySnapshot);
  socket.on("connect", function () { socket.emit("snapshot", {}, function (answer) { if (answer && answer.ok) { applySnapshot(answer); } }); });
  socket.on("queue", function (data) {
    var q = queues[data.queue_id] = Object.assign(queues[data.queue_id] || {}, data);
    q.receivedAt = Date.now();
    if (data.below_target === undefined && data.service_level !== undefined) {
      q.below_target = data.service_level !== null && data.offered >= 5 && data.service_level < data.target;
    }
    renderQueues();
  });
  socket.on("agent", function (data) {
    var a = agents[data.agent_id];
    if (!a) { socket.emit("snapshot", {}, function (answer) { if (answer && answer.ok) { applySnapshot(answer); } }); return; }
    if (data.since) { a.since = Date.parse(data.since) / 1000; }
    ["state", "reason", "unreachable", "disconnected"].forEach(function (k) { if (data[k] !== undefined) { a[k] = data[k]; } });
    if (data.call_sid !== undefined && data.state) { a.current_call = (data.state === "on_call" || data.state === "reserved") ? data.call_sid : null; }
    renderAgents();
  });
  socket.on("alert", function (data) {
    if (data.active) { alerts[data.queue_id] = data; } else { delete alerts[data.queue_id]; }
    renderAlerts();
  });
  setInterval(function () { socket.emit("snapshot", {}, function (answer) { if (answer && answer.ok) { applySnapshot(answer); } }); }, 30000);
  setInterval(tick, 1000);

  function applySnapshot(data) {
    var now = Date.now() / 1000;
    queues = {};
    (data.queues || []).forEach(function (q) { q.receivedAt = Date.now(); queues[q.queue_id] = q; });
    var seen = {};
    (data.agents || []).forEach(function (a) {
      a.since = a.seconds_in_state !== null && a.seconds_in_state !== undefined ? now - a.seconds_in_state : null;
      agents[a.agent_id] = a; seen[a.agent_id] = true;
    });
    Object.keys(agents).forEach(function (id) { if (!seen[id]) { delete agents[id]; } });
    renderQueues(); renderAgents(true); renderCampaigns(data.campaigns || []);
  }

  // Running campaigns: the dialer's pacing and its abandon rate against the campaign's target.
  var MODE_NAMES = { preview: _("Preview"), progressive: _("Progressive"), predictive: _("Predictive") };
  function rate(value) { return value === null || value === undefined ? "—" : (Math.round(value * 1000) / 10) + "%"; }
  function renderCampaigns(list) {
    show("campaigns-panel", list.length > 0);
    var body = $("campaign-rows");
    body.innerHTML = "";
    list.forEach(function (c) {
      var over = c.abandon_rate !== null && c.abandon_rate !== undefined && c.abandon_rate > c.max_abandon_rate;
      body.appendChild(el("tr", { className: over ? "below" : "", "data-campaign": c.name }, [
        el("td", { text: c.name }),
        el("td", { text: MODE_NAMES[c.mode] || c.mode }),
        el("td", { "data-field": "lines_per_agent", text: c.lines_per_agent === null || c.lines_per_agent === undefined ? "—" : String(c.lines_per_agent) }),
        el("td", { className: "big", "data-field": "lines_ringing", text: num(c.lines_ringing || 0) }),
        el("td", { "data-field": "abandon_rate", text: rate(c.predicted_abandon_rate) + " / " + rate(c.abandon_rate) + " " + _("(target %(target)s)", { target: rate(c.max_abandon_rate) }) }),
        el("td", { "data-field": "live_answers", text: num(c.live_answers || 0) }),
        el("td", { "data-field": "machines", text: num(c.machines || 0) }),
      ]));
    });
  }

  function pct(value) { return value === null || value === undefined ? "—" : value + "%"; }
  function renderQueues() {
    var body = $("queue-rows");
    body.innerHTML = "";
    Object.keys(queues).map(function (k) { return queues[k]; }).sort(function (a, b) { return a.name < b.name ? -1 : 1; }).forEach(function (q) {
      var below = q.below_target || !!alerts[q.queue_id];
      body.appendChild(el("tr", { className: below ? "below" : "", "data-queue": q.name }, [
        el("td", { text: q.name }),
        el("td", { className: "big", "data-field": "waiting", text: num(q.waiting || 0) }),
        el("td", { "data-field": "in_queue", text: num(Math.max(0, (q.in_queue || 0) - (q.waiting || 0))) }),
        el("td", { "data-field": "longest_wait", text: CC.duration(longest(q)) }),
        el("td", { "data-field": "service_level", text: pct(q.service_level) + " " + _("(%(target)s%% in %(seconds)s s)", { target: q.target || q.service_level_target, seconds: q.service_level_seconds }) }),
        el("td", { "data-field": "abandon_rate", text: pct(q.abandon_rate) + (q.abandoned ? " · " + num(q.abandoned) : "") }),
        el("td", { text: num(q.offered || 0) + " / " + num(q.answered || 0) }),
      ]));
    });
  }
  function longest(q) {
    if (!q.in_queue) { return 0; }
    return (q.longest_wait || 0) + (Date.now() - q.receivedAt) / 1000;
  }
  function renderAlerts() {
    var box = $("alerts");
    box.innerHTML = "";
    Object.keys(alerts).forEach(function (id) {
      var alert = alerts[id], queue = queues[id];
      var words = alert.service_level !== undefined && alert.service_level !== null
        ? _("%(queue)s: service level %(level)s%% is below the %(target)s%% target", { queue: alert.name || (queue ? queue.name : ""), level: alert.service_level, target: alert.target })
        : alert.message;
      box.appendChild(el("div", { className: "notice error", role: "alert", text: "⚠ " + words }));
    });
    Object.keys(queues).forEach(function (id) {
      var q = queues[id];
      if (q.below_target && !alerts[id]) {
        box.appendChild(el("div", { className: "notice error", role: "alert",
          text: "⚠ " + _("%(queue)s: service level %(level)s%% is below the %(target)s%% target", { queue: q.name, level: q.service_level, target: q.target }) }));
      }
    });
    renderQueues();
  }

  function renderAgents(full) {
    var grid = $("agents");
    Object.keys(agents).map(function (k) { return agents[k]; }).sort(function (a, b) { return a.name < b.name ? -1 : 1; }).forEach(function (a) {
      var card = grid.querySelector('[data-agent="' + a.agent_id + '"]');
      if (!card) { card = buildCard(a); grid.appendChild(card); }
      card.className = "agent-card state-" + a.state;
      card.querySelector(".st").textContent = CC.stateLabel(a.state, a.reason) + (a.unreachable ? " · " + _("unreachable") : "") + (a.disconnected ? " · " + _("disconnected") : "");
      card.querySelector(".call").textContent = a.current_call ? _("Call %(id)s", { id: a.current_call.slice(-8) }) : "";
      var live = a.state === "on_call" && a.current_call;
      Array.prototype.forEach.call(card.querySelectorAll("button[data-mode]"), function (b) { b.disabled = !live; });
    });
    if (full) {
      Array.prototype.forEach.call(grid.querySelectorAll(".agent-card"), function (card) {
        if (!agents[card.dataset.agent]) { grid.removeChild(card); }
      });
    }
    tick();
  }
  function buildCard(a) {
    var force = el("select", { "aria-label": _("Set state of %(name)s", { name: a.name }) }, [el("option", { value: "", text: _("Set state…") }), el("option", { value: "available", text: _("Available") })]
      .concat(awayReasons.map(function (r) { return el("option", { value: "away:" + r.code, text: _("Away · %(reason)s", { reason: r.label }) }); }))
      .concat([el("option", { value: "offline", text: _("Offline") })]));
    force.addEventListener("change", function () {
      var value = force.value; if (!value) { return; }
      var body = value.indexOf("away:") === 0 ? { state: "away", reason: value.slice(5) } : { state: value };
      CC.api("POST", "/agents/" + a.agent_id + "/state", body).catch(function (e) { status(e.message, true); }).then(function () { force.value = ""; });
    });
    var card = el("div", { className: "agent-card", "data-agent": a.agent_id }, [
      el("div", { className: "row", style: "justify-content:space-between" }, [el("span", { className: "name", text: a.name }), el("span", { className: "time muted" })]),
      el("div", { className: "st" }), el("div", { className: "call muted" }),
      el("div", { className: "actions" }, ["listen", "whisper", "barge"].map(function (mode) {
        return el("button", { className: "small secondary", "data-mode": mode, text: MODES[mode],
          onclick: function () { startMonitor(agents[a.agent_id], mode); } });
      }).concat([force])),
    ]);
    return card;
  }
  function tick() {
    var now = Date.now() / 1000;
    Object.keys(agents).forEach(function (id) {
      var card = $("agents").querySelector('[data-agent="' + id + '"]');
      if (card) { card.querySelector(".time").textContent = agents[id].since ? CC.duration(now - agents[id].since) : ""; }
    });
    Object.keys(queues).forEach(function (id) {
      var cell = document.querySelector('tr[data-queue="' + queues[id].name + '"] td[data-field="longest_wait"]');
      if (cell) { cell.textContent = CC.duration(longest(queues[id])); }
    });
  }

  // ---------------------------------------------------------------- monitoring
  function status(textValue, bad) { var s = $("monitor-status"); s.textContent = textValue; s.className = bad ? "notice error" : "muted"; }
  function startMonitor(agent, mode) {
    if (!agent || !agent.current_call) { return; }
    pendingMonitor = !monitor || monitor.call_sid !== agent.current_call;
    CC.api("POST", "/calls/" + encodeURIComponent(agent.current_call) + "/monitor", { mode: mode }).then(function (data) {
      monitor = Object.assign(monitor && monitor.call_sid === data.call_sid ? monitor : {}, { call_sid: data.call_sid, mode: mode, agent: agent.name });
      status(_("Monitoring %(name)s · %(mode)s", { name: agent.name, mode: MODES[mode] }) + (monitor.call ? "" : " · " + _("connecting…")));
      show("monitor-leave", true); show("monitor-take-over", true);
    }).catch(function (e) { pendingMonitor = false; status(e.message, true); });
  }
  new CC.Softphone("softphone-state", function (call) {
    if (!pendingMonitor) { call.reject(); return; }  // only calls we asked for ring a supervisor here
    pendingMonitor = false;
    call.on("disconnect", function () { monitor = null; status(_("Left the call.")); show("monitor-leave", false); show("monitor-take-over", false); });
    call.accept();
    if (monitor) { monitor.call = call; status(_("Monitoring %(name)s · %(mode)s", { name: monitor.agent, mode: MODES[monitor.mode] })); }
  });
  // Take over: the call becomes ours (the agent's leg leaves); leaving it then hangs it up for everyone.
  $("monitor-take-over").addEventListener("click", function () {
    if (!monitor) { return; }
    var current = monitor;
    CC.api("POST", "/calls/" + encodeURIComponent(current.call_sid) + "/take-over").then(function () {
      current.takenOver = true;
      status(_("You took over the call from %(name)s", { name: current.agent }));
      show("monitor-take-over", false);
    }).catch(function (e) { status(e.message, true); });
  });
  $("monitor-leave").addEventListener("click", function () {
    if (!monitor) { return; }
    var current = monitor;
    CC.api(current.takenOver ? "POST" : "DELETE", "/calls/" + encodeURIComponent(current.call_sid) + (current.takenOver ? "/hangup" : "/monitor")).catch(function () {}).then(function () {
      if (current.call) { current.call.disconnect(); }
    });
  });
  CC.api("GET", "/agent/config").then(function (data) {
    awayReasons = data.away_reasons;
    data.away_reasons.forEach(function (r) { CC.reasonLabels[r.code] = r.label; });
    renderAgents();
  }).catch(function () {});
})();
