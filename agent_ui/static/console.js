/* The agent console: live state and offers over /agent, the softphone, call control, wrap-up, contacts. */
(function () {
  "use strict";
  var $ = CC.$, show = CC.show, text = CC.text, el = CC.el, _ = CC._;
  var WRAPUP_PENDING = "cc.wrapup.pending";
  function notesKey(sid) { return "cc.wrapup.notes." + sid; }

  var config = { dispositions: [], away_reasons: [], caller_ids: [], queues: [], colleagues: [] };
  // Machine values the API sends and the page shows (statuses, priorities, phone labels): written out here so
  // extraction puts them in the catalogue; shown through _(value).
  var WORDS = [_("low"), _("normal"), _("high"), _("urgent"), _("open"), _("pending"), _("resolved"), _("closed"),
    _("scheduled"), _("offered"), _("dialing"), _("completed"), _("failed"), _("cancelled"), _("queued"),
    _("ringing"), _("in-progress"), _("busy"), _("no-answer"), _("canceled"), _("abandoned"), _("mobile"),
    _("work"), _("home"), _("other"), _("main"), _("fax"),
    // why an offer was taken back (callcenter/realtime/publisher.py WITHDRAWN)
    _("timed out"), _("caller hung up or the offer was taken back"), _("console did not respond")];
  var s = {
    presence: { state: "offline" }, presenceAt: Date.now(),
    offer: null,          // the offer on screen {call_sid, pop, expires_at, ...}
    ringing: null,        // a softphone Call waiting to be answered
    call: null,           // the softphone Call in progress
    callSid: null,        // the interaction (offer id) of the call in progress
    callStartedAt: null, muted: false, held: false,
    outbound: null,       // a click-to-call waiting for the softphone to ring
    outboundSid: null,    // the customer's leg of our click-to-call (what the hang-up button ends)
    contact: null,
  };

  // ---------------------------------------------------------------- coaching
  var COACHED = {
    listen: function (name) { return _("%(name)s is listening", { name: name }); },
    whisper: function (name) { return _("%(name)s is coaching you (the caller cannot hear them)", { name: name }); },
    barge: function (name) { return _("%(name)s joined the call", { name: name }); },
  };
  function showCoached(mode, name) {
    var badge = $("coached");
    badge.textContent = mode && COACHED[mode] ? COACHED[mode](name || _("A supervisor")) : "";
    badge.setAttribute("data-mode", mode || "");
    show("coached", !!badge.textContent);
  }

  // ---------------------------------------------------------------- messages
  function message(textValue, kind) {
    var box = $("messages");
    var note = el("div", { className: "notice " + (kind || "info"), text: textValue, role: "status" });
    box.appendChild(note);
    setTimeout(function () { if (note.parentNode) { note.parentNode.removeChild(note); } }, 8000);
  }
  function failed(error) { message(error.message || String(error), "error"); }

  // ---------------------------------------------------------------- state
  var socket = CC.connect("/agent", "connection");
  var select = $("state-select");

  function renderStateOptions() {
    select.innerHTML = "";
    select.appendChild(el("option", { value: "available", text: _("Available") }));
    config.away_reasons.forEach(function (r) { select.appendChild(el("option", { value: "away:" + r.code, text: _("Away · %(reason)s", { reason: r.label }) })); });
    select.appendChild(el("option", { value: "offline", text: _("Offline") }));
    renderPresence();
  }
  function renderPresence() {
    var p = s.presence;
    var badge = $("state-badge");
    badge.className = "badge state-" + p.state;
    badge.textContent = CC.stateLabel(p.state, p.reason) + (p.unreachable ? " " + _("(unreachable)") : "");
    badge.dataset.state = p.state;
    var busy = p.state === "reserved" || p.state === "on_call";
    select.disabled = busy || !socket.connected;
    var value = p.state === "away" ? "away:" + p.reason : p.state;
    if (!Array.prototype.some.call(select.options, function (o) { return o.value === value; })) {
      if (p.state === "away") { select.appendChild(el("option", { value: value, text: _("Away · %(reason)s", { reason: p.reason }) })); }
      else if (!select.querySelector('option[value="' + p.state + '"]')) {
        select.appendChild(el("option", { value: p.state, text: CC.stateLabel(p.state) }));
      }
    }
    select.value = value;
  }
  function applyPresence(p) {
    var since = typeof p.since === "string" ? Date.parse(p.since) / 1000 : p.since;
    s.presence = Object.assign({}, s.presence, p, since ? { since: since } : {});
    renderPresence();
  }
  select.addEventListener("change", function () {
    var value = select.value, state = value, reason = null;
    if (value.indexOf("away:") === 0) { state = "away"; reason = value.slice(5); }
    socket.emit("set_state", { state: state, reason: reason }, function (answer) {
      if (!answer.ok) { failed(new Error(answer.error)); }
      else { applyPresence(answer.presence); }
      renderPresence();
    });
  });
  setInterval(function () {
    var since = s.presence.since;
    text("state-time", since ? CC.duration(Date.now() / 1000 - since) : "");
    if (s.callStartedAt) { text("call-timer", CC.duration((Date.now() - s.callStartedAt) / 1000)); }
    if (s.offer && s.offer.expires_at) {
      var left = Math.ceil((Date.parse(s.offer.expires_at) - Date.now()) / 1000);
      text("offer-countdown", left > 0 ? _("%(seconds)s s left", { seconds: left }) : "");
    }
  }, 500);

  socket.on("connect", function () { renderPresence(); });
  socket.on("disconnect", function () { renderPresence(); });
  socket.on("hello", function (data) {
    applyPresence(data.presence);
    if (data.offer && (!s.offer || s.offer.call_sid !== data.offer.call_sid)) { showOffer(data.offer); }
    if (!data.offer && s.offer && !s.call) { clearOffer(); }
    if (data.presence.state === "wrap_up" && !pendingWrapUp() && data.presence.current_call) {
      startWrapUp(data.presence.current_call);
    }
    // Back after a reload in the middle of a call: the caller is still there, ring our softphone back in.
    if (data.presence.state === "on_call" && data.presence.current_call && !s.call && !s.rejoining) {
      rejoin(data.presence.current_call, data.call);
    }
  });
  function rejoin(sid, call) {
    s.rejoining = sid;
    if (call && call.pop) { showPop(call.pop); }
    text("call-status", _("Reconnecting your call…"));
    phone.ready.then(function () {
      return CC.api("POST", "/calls/" + encodeURIComponent(sid) + "/rejoin", {});
    }).catch(function (e) {
      s.rejoining = null;
      failed(e);
    });
  }
  socket.on("state", function (data) {
    applyPresence(data);
    if (data.state === "wrap_up" && data.call_sid && !pendingWrapUp()) { startWrapUp(data.call_sid); }
  });
  socket.on("heartbeat", function (data) { socket.emit("heartbeat", { nonce: data.nonce }); });
  socket.on("offer", function (offer) { showOffer(offer); });
  socket.on("ticket", function (d) {  // the service desk: a ticket given to you, or its deadline near or passed
    var p = { id: d.ticket_id, subject: d.subject }, assigned = d.event === "ticket.assigned";
    message(assigned ? _("Ticket #%(id)s was assigned to you: %(subject)s", p) : d.level === 2 ? _("Ticket #%(id)s is past its deadline and went to the supervisor: %(subject)s", p) : _("Ticket #%(id)s is due soon: %(subject)s", p), assigned ? "info" : "warn");
  });
  socket.on("offer_withdrawn", function (data) {
    if (s.offer && s.offer.call_sid === data.call_sid) {
      clearOffer();
      message(_("The call was taken back: %(reason)s", { reason: _(data.reason) }), "warn");
    }
  });
  socket.on("call", function (data) {
    if (data.status === "connected") {
      s.callSid = data.call_sid;
      if (s.contact) { setTimeout(function () { showContact(s.contact); }, 300); }  // now ours: full timeline
    } else if (data.status === "ended") {
      showCoached(null);
      if (data.taken_over_by) { message(_("Taken over by %(name)s", { name: data.taken_over_by }), "warn"); }
      if (s.callSid === data.call_sid || !pendingWrapUp()) { startWrapUp(data.call_sid); }
    } else if (data.status === "consult") {
      s.consult = data;
      text("incoming-title", _("Consult from %(name)s", { name: data.from_agent || _("a colleague") }));  // the softphone may ring first
      message(_("%(name)s wants to consult you about a call", { name: data.from_agent || _("A colleague") }), "info");
    } else if (data.status === "consult_cancelled") {
      message(_("The consultation was cancelled"), "warn");
    } else if (data.status === "coached") {
      showCoached(data.mode, data.supervisor);
    }
  });

  // ---------------------------------------------------------------- the offer and the screen-pop
  function showOffer(offer) {
    s.offer = offer;
    var pop = offer.pop || {};
    var contact = pop.contact;
    text("offer-name", contact ? contact.name : (pop.candidates && pop.candidates.length ? _("%(count)s possible contacts", { count: pop.candidates.length }) : _("New caller")));
    show("offer-vip", !!pop.vip);
    text("offer-from", pop.from ? pop.from_display || pop.from : _("Unknown caller"));
    text("offer-account", contact && contact.account ? contact.account.name : "—");
    text("offer-queue", (pop.queue || "—") + (offer.callback ? " " + _("(callback)") : ""));
    text("offer-waited", pop.waited_seconds !== null && pop.waited_seconds !== undefined ? CC.durationWords(pop.waited_seconds) : "—");
    text("offer-ivr", (pop.ivr_path || []).map(function (step) { return step.label || step.input || step.node; }).join(" › ") || "—");
    var tickets = pop.open_tickets || [];
    text("offer-tickets", tickets.length ? tickets.map(function (t) { return "#" + t.id + " " + t.subject; }).join("; ") : _("None"));
    // The caller's language (chosen in the IVR), named in the reader's language.
    text("offer-language", CC.languageName(pop.caller_language));
    show("offer-language", !!pop.caller_language); show("offer-language-label", !!pop.caller_language);
    $("accept").disabled = !s.ringing;
    show("offer-card", true);
    text("call-status", offer.callback ? _("Callback offered") : _("Incoming call"));
    showPop(pop);
    // The pop is on screen: tell the server, which only now rings the softphone.
    socket.emit("offer_ack", { call_sid: offer.call_sid }, function (answer) {
      if (answer && !answer.ok) { console.warn("offer_ack refused", answer.error); }
    });
  }
  function clearOffer() {
    s.offer = null;
    show("offer-card", false);
    if (s.ringing && !s.call) { s.ringing = null; }
    if (!s.call) { text("call-status", _("Idle")); }
  }
  function popHistory(pop) {
    return (pop.history || []).map(function (h) {
      return { kind: "call", at: h.at, direction: h.direction, queue: h.queue, agent: h.agent, disposition: h.disposition, status: h.status };
    });
  }
  function showPop(pop) {
    if (window.ccKb) { window.ccKb.showPop(pop); }  // the knowledge base's suggestions (kb.js)
    // The pop carries the history: the full timeline is only readable once the call is ours (scope rules).
    if (pop.contact) { showContact(pop.contact, pop.open_tickets, popHistory(pop)); }
    else {
      s.contact = null;
      show("customer-card", false);
      show("customer-empty", true);
      text("customer-empty", pop.new_contact ? _("New caller %(number)s — no contact has this number.", { number: pop.new_contact.phone_display || "" }) : "");
      renderTickets(pop.open_tickets || []);
      renderTimeline(popHistory(pop));
    }
    var list = $("candidate-list");
    list.innerHTML = "";
    (pop.candidates || []).forEach(function (c) {
      list.appendChild(el("li", { className: "clickable", text: c.name + (c.account ? " · " + c.account.name : ""), onclick: function () { openContact(c.id); } }));
    });
    show("candidates", (pop.candidates || []).length > 0);
    showScript(pop.queue, pop.campaign);
    if (window.ccPopContact) { window.ccPopContact.showPop(pop, { showContact: showContact }); }  // pop_contact.js
  }
  function showScript(queueName, campaign) {
    var box = $("script");
    if (campaign && campaign.script) {  // a campaign call: its script with the contact's fields merged in, then the list's own fields
      var fields = Object.keys(campaign.custom_fields || {}).map(function (k) { return k + ": " + campaign.custom_fields[k]; });
      box.textContent = campaign.name + "\n\n" + campaign.script + (fields.length ? "\n\n" + fields.join("\n") : "");
      box.classList.remove("muted");
      return;
    }
    var queue = config.queues.filter(function (q) { return q.name === queueName; })[0];
    box.textContent = queue && queue.script ? queue.script : (queueName ? _("No script for %(queue)s.", { queue: queueName }) : _("The script of the call's queue shows here."));
    box.classList.toggle("muted", !(queue && queue.script));
  }

  // ---------------------------------------------------------------- softphone
  var phone = new CC.Softphone("softphone-state", function (call) {
    s.ringing = call;
    call.on("cancel", function () { if (s.ringing === call) { s.ringing = null; $("accept").disabled = true; show("incoming-card", false); } });
    call.on("reject", function () { if (s.ringing === call) { s.ringing = null; } });
    if (s.rejoining) {  // our own call, ringing us back after a reload: pick up at once
      answer();
      return;
    }
    if (s.outbound) {  // our own click-to-call: pick up at once
      s.outbound = null;
      answer();
      return;
    }
    if (s.offer) { $("accept").disabled = false; $("accept").focus(); return; }
    text("incoming-title", s.consult ? _("Consult from %(name)s", { name: s.consult.from_agent || _("a colleague") }) : _("Incoming call from %(number)s", { number: call.parameters.From || _("unknown") }));
    show("incoming-card", true);
  });

  function answer() {
    var call = s.ringing;
    if (!call || s.call) { return; }
    s.ringing = null;
    s.call = call;
    s.callSid = s.offer ? s.offer.call_sid : (s.consult ? s.consult.call_sid : s.rejoining);
    s.rejoining = null;
    s.muted = false; s.held = false;
    call.on("accept", function () {
      s.callStartedAt = Date.now();
      show("call-timer", true);
      text("call-status", _("On call"));
    });
    call.on("disconnect", function () { callFinished(); });
    call.on("mute", function (muted) { s.muted = muted; renderCall(); });
    call.accept();
    show("offer-card", false); show("incoming-card", false);
    s.offer = null;
    text("call-status", _("Connecting…"));
    renderCall();
  }
  function reject() {
    if (s.offer) {
      var sid = s.offer.call_sid;
      socket.emit("offer_reject", { call_sid: sid }, function (answer) { if (!answer.ok) { failed(new Error(answer.error)); } });
      clearOffer();
    }
    if (s.ringing) { s.ringing.reject(); s.ringing = null; }
    show("incoming-card", false);
    s.consult = null;
  }
  function hangup() {
    if (s.call && !s.callSid && s.outboundSid) {
      // Our click-to-call: end the customer's leg even while it still rings (the server also does, when our leg
      // leaves first); our leg drops with the conference.
      var own = s.call;
      CC.api("POST", "/calls/" + encodeURIComponent(s.outboundSid) + "/hangup", {}).catch(function () { own.disconnect(); });
    }
    else if (s.call && s.callSid) {
      // End the call for the customer too; our leg drops with it (a bare disconnect would look like a reload).
      var call = s.call;
      CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/hangup", {}).catch(function () { call.disconnect(); });
    }
    else if (s.call) { s.call.disconnect(); }
    else if (s.ringing || s.offer) { reject(); }
  }
  function toggleMute() {
    if (!s.call) { return; }
    s.call.mute(!s.call.isMuted());
  }
  function toggleHold() {
    if (!s.call || !s.callSid) { return; }
    var want = !s.held;
    $("hold").disabled = true;
    CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/hold", { on: want }).then(function (data) {
      s.held = data.on_hold; renderCall();
    }).catch(failed).then(function () { $("hold").disabled = false; });
  }
  function callFinished() {
    var sid = s.callSid;
    s.call = null; s.callStartedAt = null; s.muted = false; s.held = false; s.consult = null; s.outboundSid = null;
    show("call-timer", false);
    show("in-call", false);
    show("transfer-progress", false);
    text("call-status", _("Idle"));
    if (sid && s.presence.state === "wrap_up" && !pendingWrapUp()) { startWrapUp(sid); }
  }
  function renderCall() {
    show("in-call", !!s.call);
    var mute = $("mute"), hold = $("hold");
    mute.classList.toggle("active", s.muted);
    mute.firstChild.textContent = (s.muted ? _("Unmute") : _("Mute")) + " ";
    hold.classList.toggle("active", s.held);
    hold.firstChild.textContent = (s.held ? _("Resume") : _("Hold")) + " ";
    if (s.call && s.callStartedAt) { text("call-status", s.held ? _("On hold") : (s.muted ? _("On call (muted)") : _("On call"))); }
    renderTransferTargets();
  }

  $("accept").addEventListener("click", answer);
  $("incoming-accept").addEventListener("click", answer);
  $("reject").addEventListener("click", reject);
  $("incoming-reject").addEventListener("click", reject);
  $("hangup").addEventListener("click", hangup);
  $("mute").addEventListener("click", toggleMute);
  $("hold").addEventListener("click", toggleHold);
  $("keypad-toggle").addEventListener("click", function () { $("keypad").classList.toggle("hidden"); });
  Array.prototype.forEach.call(document.querySelectorAll("#keypad button"), function (button) {
    button.addEventListener("click", function () { if (s.call) { s.call.sendDigits(button.dataset.digit); } });
  });
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    var actions = { KeyA: answer, KeyH: hangup, KeyM: toggleMute, KeyK: toggleHold };
    var action = actions[event.code];
    if (action) { event.preventDefault(); action(); }
  });

  // ---------------------------------------------------------------- transfer
  function renderTransferTargets() {
    var agents = $("transfer-agent"), queues = $("transfer-queue");
    if (!agents.options.length || agents.dataset.stale === "1") {
      agents.innerHTML = "";
      config.colleagues.forEach(function (c) {
        agents.appendChild(el("option", { value: c.id, text: c.name + (c.available ? "" : " (" + CC.stateLabel(c.state) + ")") }));
      });
      agents.dataset.stale = "0";
    }
    if (!queues.options.length) {
      config.queues.forEach(function (q) { queues.appendChild(el("option", { value: q.id, text: q.name })); });
    }
  }
  $("consult").addEventListener("click", function () {
    if (!s.callSid) { return; }
    CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/transfer", { kind: "warm", target_agent_id: Number($("transfer-agent").value) })
      .then(function () {
        s.held = true; renderCall();
        text("transfer-text", _("Consulting %(name)s — the caller is on hold.", { name: $("transfer-agent").selectedOptions[0].textContent }));
        show("transfer-progress", true);
      }).catch(failed);
  });
  $("transfer-complete").addEventListener("click", function () {
    CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/transfer/complete").then(function () {
      show("transfer-progress", false);
      message(_("Transferred. Your leg ends now."), "info");
    }).catch(failed);
  });
  $("transfer-cancel").addEventListener("click", function () {
    CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/transfer/cancel").then(function () {
      show("transfer-progress", false); s.held = false; renderCall();
    }).catch(failed);
  });
  $("cold-transfer").addEventListener("click", function () {
    CC.api("POST", "/calls/" + encodeURIComponent(s.callSid) + "/transfer", { kind: "cold", queue_id: Number($("transfer-queue").value) })
      .then(function () { message(_("The caller is waiting in %(queue)s", { queue: $("transfer-queue").selectedOptions[0].textContent }), "info"); })
      .catch(failed);
  });
  function refreshColleagues() {
    return CC.api("GET", "/agent/config").then(function (data) {
      config.colleagues = data.colleagues; $("transfer-agent").dataset.stale = "1"; renderTransferTargets();
    }).catch(function () {});
  }
  $("transfer-agent").addEventListener("focus", refreshColleagues);

  // ---------------------------------------------------------------- wrap-up
  function pendingWrapUp() { return localStorage.getItem(WRAPUP_PENDING); }
  function startWrapUp(sid) {
    if (!sid) { return; }
    localStorage.setItem(WRAPUP_PENDING, sid);
    openWrapUp(sid);
  }
  function openWrapUp(sid) {
    text("wrapup-call", "");
    $("wrapup-form").dataset.callSid = sid;
    $("wrapup-notes").value = localStorage.getItem(notesKey(sid)) || "";
    show("wrapup-error", false);
    show("wrapup", true);
    $("disposition").focus();
  }
  $("wrapup-notes").addEventListener("input", function () {
    var sid = $("wrapup-form").dataset.callSid;
    if (sid) { localStorage.setItem(notesKey(sid), $("wrapup-notes").value); }
  });
  $("want-callback").addEventListener("change", function () {
    show("callback-fields", this.checked);
    if (this.checked && !$("callback-at").value) {
      var later = new Date(Date.now() + 60 * 60 * 1000 - new Date().getTimezoneOffset() * 60000);
      $("callback-at").value = later.toISOString().slice(0, 16);
    }
  });
  $("want-ticket").addEventListener("change", function () { show("ticket-fields", this.checked); });
  $("new-ticket-link").addEventListener("click", function () {  // quick entry, prefilled from the call and contact
    var sid = s.callSid || $("wrapup-form").dataset.callSid, q = [];
    if (sid) { q.push("call_sid=" + encodeURIComponent(sid)); }
    if (s.contact) { q.push("contact_id=" + s.contact.id); }
    this.href = this.href.split("?")[0] + (q.length ? "?" + q.join("&") : "");
  });
  $("wrapup-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var sid = this.dataset.callSid;
    var error = $("wrapup-error");
    function fail(textValue) { error.textContent = textValue; show(error, true); }
    if (!$("disposition").value) { fail(_("Choose a disposition first.")); $("disposition").focus(); return; }
    var body = { disposition: $("disposition").value, notes: $("wrapup-notes").value };
    if ($("want-callback").checked) {
      var at = new Date($("callback-at").value);
      if (isNaN(at.getTime())) { fail(_("Give the callback date and time.")); return; }
      body.callback = { due_at: at.toISOString() };
      if ($("callback-phone").value.trim()) { body.callback.phone = $("callback-phone").value.trim(); }
    }
    if ($("want-ticket").checked) {
      if (!$("ticket-subject").value.trim()) { fail(_("A ticket needs a subject.")); return; }
      body.ticket = { subject: $("ticket-subject").value.trim(), priority: $("ticket-priority").value };
    }
    CC.api("POST", "/calls/" + encodeURIComponent(sid) + "/wrap-up", body).then(function (result) {
      localStorage.removeItem(notesKey(sid));
      localStorage.removeItem(WRAPUP_PENDING);
      $("wrapup-form").reset();
      show("callback-fields", false); show("ticket-fields", false);
      show("wrapup", false);
      var done = _("Wrap-up saved");
      if (result.callback_id) { done += " · " + _("callback booked for %(when)s", { when: CC.when(result.callback_due_at) }); }
      if (result.ticket_id) { done += " · " + _("ticket #%(id)s", { id: result.ticket_id }); }
      message(done, "info");
      if (s.contact) { openContact(s.contact.id); }
    }).catch(function (e) {
      if (e.status === 409) {  // already wrapped up (another tab): nothing left to do here
        localStorage.removeItem(WRAPUP_PENDING); show("wrapup", false);
      }
      fail(e.message);
    });
  });

  // ---------------------------------------------------------------- contacts
  function showContact(contact, openTickets, history) {
    s.contact = contact;
    show("customer-empty", false);
    show("customer-card", true);
    show("contact-form", false);
    text("customer-name", contact.name || contact.display_name);
    show("customer-vip", !!contact.vip);
    text("customer-account", contact.account ? _("Account: %(name)s", { name: contact.account.name }) + (contact.account.vip ? " (VIP)" : "") : _("No account"));
    var phones = $("customer-phones");
    phones.innerHTML = "";
    (contact.phones || []).forEach(function (p) {
      phones.appendChild(el("li", {}, [
        el("span", { text: (p.display || p.e164) + " " }), el("span", { className: "tag", text: _(p.label) }), el("span", { text: " " }),
        el("button", { className: "small secondary", text: _("Call"), "data-number": p.e164, onclick: function () { dial(p.e164, contact.id); } }),
      ]));
    });
    text("customer-email", contact.email || "");
    text("customer-notes", contact.notes || "");
    show("customer-notes", !!contact.notes);
    if (openTickets) { renderTickets(openTickets); }
    if (history) { renderTimeline(history); return; }
    CC.api("GET", "/contacts/" + contact.id + "/timeline").then(function (data) {
      renderTimeline(data.items);
      if (!openTickets) {
        renderTickets(data.items.filter(function (i) { return i.kind === "ticket" && ["new", "open", "pending"].indexOf(i.status) >= 0; }));
      }
    }).catch(function (e) { if (e.status !== 404) { failed(e); } });
  }
  function openContact(id) {
    CC.api("GET", "/contacts/" + id).then(function (c) {
      showContact(Object.assign({}, c, { name: c.display_name }));
    }).catch(failed);
  }
  function renderTickets(tickets) {
    var list = $("open-tickets");
    list.innerHTML = "";
    if (!tickets.length) { list.appendChild(el("li", { className: "muted", text: _("None") })); return; }
    tickets.forEach(function (t) {
      list.appendChild(el("li", {}, [el("strong", { text: "#" + t.id + " " + t.subject + " " }),
        el("span", { className: "tag " + t.priority, text: _(t.priority) }), el("span", { className: "muted", text: " " + _(t.status) + (t.due_at ? " · " + _("due %(when)s", { when: CC.when(t.due_at) }) : "") })]));
    });
  }
  function renderTimeline(items) {
    var list = $("timeline");
    list.innerHTML = "";
    if (!items.length) { list.appendChild(el("li", { className: "muted", text: _("No history yet") })); return; }
    items.forEach(function (i) {
      var what;
      if (i.kind === "call") {
        what = (i.direction === "inbound" ? _("Call in") : _("Call out")) + (i.queue ? " · " + i.queue : "") + (i.agent ? " · " + i.agent : "") +
          (i.disposition ? " · " + i.disposition : "") + (i.status ? " (" + _(i.status) + ")" : "");
      } else if (i.kind === "note") { what = _("Note: %(text)s", { text: i.text }); }
      else if (i.kind === "ticket") { what = _("Ticket #%(id)s %(subject)s (%(status)s)", { id: i.id, subject: i.subject, status: _(i.status) }); }
      else { what = _("Callback %(status)s · due %(when)s", { status: _(i.status), when: CC.when(i.due_at) }) + (i.notes ? " · " + i.notes : ""); }
      list.appendChild(el("li", {}, [el("div", { className: "when", text: CC.when(i.at) }), el("div", { text: what })]));
    });
  }
  var searchTimer = null;
  $("contact-search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = this.value.trim();
    searchTimer = setTimeout(function () {
      CC.api("GET", "/contacts?per_page=20&q=" + encodeURIComponent(q)).then(function (page) {
        var list = $("contact-results");
        list.innerHTML = "";
        if (!page.items.length) { list.appendChild(el("li", { className: "muted", text: _("No contact found") })); }
        page.items.forEach(function (c) {
          var first = (c.phones || [])[0];
          list.appendChild(el("li", { className: "clickable", onclick: function () { showContact(Object.assign({}, c, { name: c.display_name })); } }, [
            el("div", { text: c.display_name + (c.vip ? " ★" : "") }),
            el("div", { className: "muted", text: [first ? first.display : "", c.email || "", c.account ? c.account.name : ""].filter(Boolean).join(" · ") }),
          ]));
        });
      }).catch(failed);
    }, 250);
  });
  $("edit-contact").addEventListener("click", function () {
    var c = s.contact; if (!c) { return; }
    CC.api("GET", "/contacts/" + c.id).then(function (full) {
      $("cf-first").value = full.first_name; $("cf-last").value = full.last_name; $("cf-email").value = full.email || "";
      $("cf-notes").value = full.notes || ""; $("cf-vip").checked = !!full.vip;
      show("contact-form", true);
    }).catch(failed);
  });
  $("cf-cancel").addEventListener("click", function () { show("contact-form", false); });
  $("contact-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var c = s.contact;
    CC.api("PATCH", "/contacts/" + c.id, { first_name: $("cf-first").value, last_name: $("cf-last").value,
      email: $("cf-email").value.trim() || null, notes: $("cf-notes").value, vip: $("cf-vip").checked })
      .then(function (saved) { showContact(Object.assign({}, saved, { name: saved.display_name })); message(_("Contact saved"), "info"); })
      .catch(failed);
  });
  function dial(number, contactId) {
    if (s.call || s.offer) { message(_("Finish the current call first"), "warn"); return; }
    s.outbound = { to: number }; s.outboundSid = null;
    CC.api("POST", "/calls", { to: number, caller_id: $("caller-id").value, contact_id: contactId || null }).then(function (data) {
      s.callSid = null;
      s.outboundSid = data.call_sid;
      if (!s.callStartedAt) { text("call-status", _("Calling %(number)s…", { number: data.to })); }  // not once answered
    }).catch(function (e) { s.outbound = null; failed(e); });
  }

  // ---------------------------------------------------------------- start
  CC.api("GET", "/agent/config").then(function (data) {
    config = data;
    data.away_reasons.forEach(function (r) { CC.reasonLabels[r.code] = r.label; });
    data.dispositions.forEach(function (d) { $("disposition").appendChild(el("option", { value: d.code, text: d.label })); });
    data.caller_ids.forEach(function (n) { $("caller-id").appendChild(el("option", { value: n, text: n })); });
    renderStateOptions();
    renderTransferTargets();
    var pending = pendingWrapUp();
    if (pending) { openWrapUp(pending); }
  }).catch(failed);
  window.ccConsole = s;  // for people debugging a live console
})();
