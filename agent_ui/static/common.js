/* Shared by the console and the wallboard: JSON API calls, the live connection badge, the softphone Device. */
(function (root) {
  "use strict";
  var CC = root.CC = {};

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
          var error = new Error((data && data.message) || ("Request failed (" + response.status + ")"));
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
  CC.when = function (iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  };
  CC.stateLabel = function (state, reason) {
    var labels = { available: "Available", away: "Away", offline: "Offline", reserved: "Offered a call",
      on_call: "On a call", wrap_up: "Wrap-up" };
    return (labels[state] || state) + (state === "away" && reason ? " · " + reason : "");
  };

  /* A Socket.IO connection with a visible state; socket.io reconnects by itself (with backoff). */
  CC.connect = function (namespace, badgeId) {
    var badge = CC.$(badgeId);
    var socket = root.io(namespace, { transports: ["websocket", "polling"], reconnectionDelayMax: 5000 });
    function set(cls, text) { badge.className = "badge " + cls; badge.textContent = text; badge.dataset.state = cls; }
    socket.on("connect", function () { set("ok", "Connected"); });
    socket.on("disconnect", function (reason) {
      set("bad", "Disconnected");
      if (reason === "io server disconnect") { socket.connect(); }  // the server dropped us: come back anyway
    });
    socket.io.on("reconnect_attempt", function (attempt) { set("warn", "Reconnecting… (" + attempt + ")"); });
    socket.on("connect_error", function () { set("bad", "Offline — retrying"); });
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
      device.on("registered", function () { self.set("ok", "Softphone ready"); self.resolveReady(); });
      device.on("registering", function () { self.set("warn", "Softphone connecting…"); });
      device.on("unregistered", function () { self.set("bad", "Softphone offline"); });
      device.on("error", function (error) {
        self.set("bad", "Softphone: " + (error && error.message ? error.message : "error"));
        if (root.console) { root.console.warn("softphone error", error); }
      });
      device.on("tokenWillExpire", function () {
        CC.api("GET", "/agent/token").then(function (fresh) { device.updateToken(fresh.token); });
      });
      device.on("incoming", function (call) { self.onIncoming(call); });
      device.register();
    }).catch(function (error) { self.set("bad", "Softphone unavailable: " + error.message); });
  };
  CC.Softphone.prototype.set = function (cls, text) {
    this.badge.className = "badge " + cls; this.badge.textContent = text; this.badge.dataset.state = cls;
  };
})(window);
