/* Shared by the console and the wallboard: JSON API calls, the live connection badge, the softphone Device. */
(function (root) {
  "use strict";
  var CC = root.CC = {};

  /* The reader's language: locale, time zone and the catalogue's messages for this page, embedded by the server
     (agent_ui/_layout.html) from the same gettext catalogue the templates use. */
  var i18nNode = document.getElementById("i18n");
  var i18n = i18nNode ? JSON.parse(i18nNode.textContent) : {};
  CC.locale = i18n.locale || "en";
  CC.timeZone = i18n.timeZone || undefined;  // none chosen: the browser's own zone
  var catalogue = i18n.messages || {};

  /* gettext for the pages: _("Consult from %(name)s", {name: n}); %(x)s placeholders as in Python. */
  var _ = root._ = CC._ = function (msgid, params) {
    var message = Object.prototype.hasOwnProperty.call(catalogue, msgid) && catalogue[msgid] ? catalogue[msgid] : msgid;
    if (!params) { return message; }
    return message.replace(/%(?:\((\w+)\))?([sdr%])/g, function (all, name, kind) {
      if (kind === "%") { return "%"; }
      var value = name ? params[name] : params;
      return value === null || value === undefined ? "" : String(value);
    });
  };
  CC.number = function (value) { return new Intl.NumberFormat(CC.locale).format(value || 0); };
  CC.languageName = function (code) {
    if (!code) { return ""; }
    try {
      return new Intl.DisplayNames([CC.locale], { type: "language" }).of(String(code).replace("_", "-")) || code;
    } catch (e) { return code; }
  };

  CC.csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  /* fetch() for /api/v1: JSON in and out; rejects with an Error whose message is the API's message. */
  CC.api = function (method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") { options.headers["X-CSRFToken"] = CC.csrf(); }
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch("/api/v1" + path, options).then(function (response) {
      if (response.status === 204) { return null; }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.message) || _("Request failed (%(status)s)", { status: response.status }));
          error.status = response.status; error.field = data && data.field;
          if (response.status === 401) { root.location.assign("/login?next=" + encodeURIComponent(root.location.pathname)); }
          throw error;
        }
        return data;
      });
    });
  };

  CC.$ = function (id) { return document.getElementById(id); };
  CC.show = function (el, visible) { (typeof el === "string" ? CC.$(el) : el).classList.toggle("hidden", !visible); };
  CC.text = function (id, value) { CC.$(id).textContent = value === null || value === undefined ? "" : String(value); };
  CC.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else if (key.slice(0, 2) === "on") { node.addEventListener(key.slice(2), attrs[key]); }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  };
  CC.duration = function (seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  };
  /* A duration in words for the reader's locale ("1 min 5 sec", "1分钟 5秒"). */
  CC.durationWords = function (seconds) {
    seconds = Math.max(0, Math.round(seconds || 0));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    function unit(value, name) {
      return new Intl.NumberFormat(CC.locale, { style: "unit", unit: name, unitDisplay: "short" }).format(value);
    }
    return m ? unit(m, "minute") + " " + unit(s, "second") : unit(s, "second");
  };
  CC.when = function (iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return date.toLocaleString(CC.locale, { dateStyle: "medium", timeStyle: "short", timeZone: CC.timeZone });
  };
  CC.reasonLabels = {};  // away reason code -> label in the reader's language, from /agent/config
  CC.stateLabel = function (state, reason) {
    var labels = { available: _("Available"), away: _("Away"), offline: _("Offline"), reserved: _("Offered a call"),
      on_call: _("On a call"), wrap_up: _("Wrap-up") };
    return (labels[state] || state) + (state === "away" && reason ? " · " + (CC.reasonLabels[reason] || reason) : "");
  };

  /* A Socket.IO connection with a visible state; socket.io reconnects by itself (with backoff). */
  CC.connect = function (namespace, badgeId) {
    var badge = CC.$(badgeId);
    var socket = root.io(namespace, { transports: ["websocket", "polling"], reconnectionDelayMax: 5000 });
    function set(cls, text) { badge.className = "badge " + cls; badge.textContent = text; badge.dataset.state = cls; }
    socket.on("connect", function () { set("ok", _("Connected")); });
    socket.on("disconnect", function (reason) {
      set("bad", _("Disconnected"));
      if (reason === "io server disconnect") { socket.connect(); }  // the server dropped us: come back anyway
    });
    socket.io.on("reconnect_attempt", function (attempt) { set("warn", _("Reconnecting… (%(attempt)s)", { attempt: attempt })); });
    socket.on("connect_error", function () { set("bad", _("Offline — retrying")); });
    return socket;
  };

  /* The softphone: Twilio.Device (the real SDK, or the emulator's shim), with its token kept fresh. */
  CC.Softphone = function (badgeId, onIncoming) {
    var self = this;
    this.badge = CC.$(badgeId);
    this.device = null;
    this.identity = null;
    this.onIncoming = onIncoming;
    // Resolved once the Device is registered: only then can a call ring it (e.g. a rejoin after a reload).
    this.ready = new Promise(function (resolve) { self.resolveReady = resolve; });
    CC.api("GET", "/agent/token").then(function (data) {
      self.identity = data.identity;
      self.mode = data.mode;
      var device = new root.Twilio.Device(data.token, { closeProtection: true, codecPreferences: ["opus", "pcmu"] });
      self.device = device;
      device.on("registered", function () { self.set("ok", _("Softphone ready")); self.resolveReady(); });
      device.on("registering", function () { self.set("warn", _("Softphone connecting…")); });
      device.on("unregistered", function () { self.set("bad", _("Softphone offline")); });
      device.on("error", function (error) {
        self.set("bad", _("Softphone: %(error)s", { error: error && error.message ? error.message : _("error") }));
        if (root.console) { root.console.warn("softphone error", error); }
      });
      device.on("tokenWillExpire", function () {
        CC.api("GET", "/agent/token").then(function (fresh) { device.updateToken(fresh.token); });
      });
      device.on("incoming", function (call) { self.onIncoming(call); });
      device.register();
    }).catch(function (error) { self.set("bad", _("Softphone unavailable: %(error)s", { error: error.message })); });
  };
  CC.Softphone.prototype.set = function (cls, text) {
    this.badge.className = "badge " + cls; this.badge.textContent = text; this.badge.dataset.state = cls;
  };
})(window);
