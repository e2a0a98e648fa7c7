/*
 * Emulator shim with the surface of @twilio/voice-sdk 2.x (Device, Call), over Socket.IO namespace /sim.
 * Load socket.io.min.js first. The console code is the same in both modes: `new Twilio.Device(token)`.
 * Audio is text here: what the far end says arrives as Call 'sim:say' / 'sim:heard' events (and is spoken
 * through speechSynthesis when options.speak is true).
 */
(function (root) {
  "use strict";

  function Emitter() { this._handlers = {}; }
  Emitter.prototype.on = function (name, fn) {
    (this._handlers[name] = this._handlers[name] || []).push(fn); return this;
  };
  Emitter.prototype.addListener = Emitter.prototype.on;
  Emitter.prototype.once = function (name, fn) {
    var self = this;
    function wrapper() { self.off(name, wrapper); fn.apply(self, arguments); }
    return this.on(name, wrapper);
  };
  Emitter.prototype.off = function (name, fn) {
    var list = this._handlers[name] || [];
    this._handlers[name] = list.filter(function (h) { return h !== fn; });
    return this;
  };
  Emitter.prototype.removeListener = Emitter.prototype.off;
  Emitter.prototype.removeAllListeners = function (name) {
    if (name) { delete this._handlers[name]; } else { this._handlers = {}; }
    return this;
  };
  Emitter.prototype.emit = function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    (this._handlers[name] || []).slice().forEach(function (h) {
      try { h.apply(null, args); } catch (e) { if (root.console) { root.console.error(e); } }
    });
    return true;
  };

  function inherit(Child, Parent) {
    Child.prototype = Object.create(Parent.prototype);
    Child.prototype.constructor = Child;
  }

  function TwilioError(code, message) {
    var error = new Error(message);
    error.code = code;
    error.name = "TwilioError";
    error.message = message;
    return error;
  }

  function tokenExpiry(token) {
    try {
      var payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (payload.length % 4) { payload += "="; }
      return JSON.parse(root.atob(payload)).exp || null;
    } catch (e) { return null; }
  }

  function speak(text) {
    if (root.speechSynthesis && root.SpeechSynthesisUtterance) {
      root.speechSynthesis.speak(new root.SpeechSynthesisUtterance(text));
    }
  }

  // ---- Call ----

  function Call(device, summary, direction) {
    Emitter.call(this);
    this._device = device;
    this._status = direction === "INCOMING" ? "pending" : "connecting";
    this._muted = false;
    this.direction = direction;
    this.parameters = summary.parameters || {};
    this.customParameters = new Map(Object.entries(summary.custom_parameters || {}));
    this.sid = summary.call_sid;
  }
  inherit(Call, Emitter);
  Call.State = { Closed: "closed", Connecting: "connecting", Open: "open", Pending: "pending",
    Reconnecting: "reconnecting", Ringing: "ringing" };
  Call.CallDirection = { Incoming: "INCOMING", Outgoing: "OUTGOING" };

  Call.prototype.status = function () { return this._status; };
  Call.prototype.isMuted = function () { return this._muted; };
  Call.prototype._send = function (event, data) {
    var self = this;
    return new Promise(function (resolve) {
      self._device._socket.emit(event, Object.assign({ call_sid: self.sid }, data || {}), function (answer) {
        if (answer && answer.ok === false) {
          self.emit("error", TwilioError(answer.code || 31000, answer.message || "call operation failed"));
        }
        resolve(answer);
      });
    });
  };
  Call.prototype.accept = function () {
    if (this._status !== "pending") { return; }
    this._status = "connecting";
    this._device._activeCall = this;
    this._send("accept");
  };
  Call.prototype.reject = function () {
    if (this._status !== "pending") { return; }
    this._status = "closed";
    this._send("reject");
    this._device._forget(this);
    this.emit("reject");
  };
  Call.prototype.ignore = function () {
    if (this._status !== "pending") { return; }
    this._status = "closed";
    this._device._forget(this);
  };
  Call.prototype.disconnect = function () {
    if (this._status === "closed") { return; }
    this._send("hangup");
  };
  Call.prototype.mute = function (shouldMute) {
    var muted = shouldMute === undefined ? true : !!shouldMute;
    if (muted === this._muted) { return; }
    this._muted = muted;
    this._send("mute", { muted: muted });
    this.emit("mute", muted, this);
  };
  Call.prototype.sendDigits = function (digits) {
    if (!/^[0-9#*w]+$/.test(String(digits))) {
      throw TwilioError(31000, "Illegal character passed into sendDigits");
    }
    this._send("digits", { digits: String(digits) });
  };
  /* Emulator only: speak into the call (speech recognition, voicemail, the other party). */
  Call.prototype.simSay = function (text) { this._send("speak", { text: String(text) }); };
  Call.prototype._event = function (payload) {
    var event = payload.event || {};
    switch (event.type) {
      case "answered":
        if (this._status !== "open") {
          this._status = "open";
          this.emit("accept", this);
        }
        break;
      case "ringing":
        if (this.direction === "OUTGOING") { this._status = "ringing"; this.emit("ringing", true); }
        break;
      case "say":
        this.emit("sim:say", event.text, event);
        if (this._device._options.speak) { speak(event.text); }
        break;
      case "heard":
        this.emit("sim:heard", event.text, event);
        if (this._device._options.speak) { speak(event.text); }
        break;
      case "ended":
        this._close(event.status);
        break;
      default:
        this.emit("sim:" + event.type, event);
    }
  };
  Call.prototype._close = function (status) {
    if (this._status === "closed") { return; }
    var wasOpen = this._status === "open" || this.direction === "OUTGOING";
    this._status = "closed";
    this._device._forget(this);
    if (wasOpen) { this.emit("disconnect", this); } else { this.emit("cancel"); }
  };

  // ---- Device ----

  function Device(token, options) {
    Emitter.call(this);
    if (!token) { throw TwilioError(31000, "Device requires an access token"); }
    this.token = token;
    this._options = Object.assign({ tokenRefreshMs: 10000, speak: false, simNamespace: "/sim" }, options || {});
    this.state = Device.State.Unregistered;
    this.calls = [];
    this.identity = null;
    this._calls = {};
    this._activeCall = null;
    this._expiryTimer = null;
    this._socket = null;
  }
  inherit(Device, Emitter);
  Device.State = { Destroyed: "destroyed", Registered: "registered", Registering: "registering",
    Unregistered: "unregistered" };
  Device.EventName = { Destroyed: "destroyed", Error: "error", Incoming: "incoming", Registered: "registered",
    Registering: "registering", TokenWillExpire: "tokenWillExpire", Unregistered: "unregistered" };
  Device.isSupported = true;
  Device.packageName = "@twilio/voice-sdk (emulator shim)";
  Device.version = "2.x-sim";

  Object.defineProperty(Device.prototype, "isBusy", {
    get: function () { return !!this._activeCall; }
  });

  Device.prototype._connectSocket = function () {
    if (this._socket) { return this._socket; }
    var self = this;
    var socket = root.io(this._options.simNamespace, { transports: ["websocket", "polling"] });
    this._socket = socket;
    socket.on("incoming", function (summary) {
      var call = new Call(self, summary, "INCOMING");
      self._calls[call.sid] = call;
      self.calls.push(call);
      self.emit("incoming", call);
    });
    socket.on("cancel", function (payload) {
      var call = self._calls[payload.call_sid];
      if (call && call.status() === "pending") { call._close("canceled"); }
    });
    socket.on("call_event", function (payload) {
      var call = self._calls[payload.call_sid];
      if (call) { call._event(payload); }
    });
    socket.on("disconnect", function () {
      if (self.state === Device.State.Registered) {
        self.state = Device.State.Unregistered;
        self.emit("unregistered");
        self.emit("error", TwilioError(31005, "Connection with the emulator was lost"));
      }
    });
    socket.on("connect", function () {
      if (self._wantRegistered && self.state !== Device.State.Registered) { self.register(); }
    });
    return socket;
  };

  Device.prototype._scheduleExpiry = function () {
    var self = this;
    if (this._expiryTimer) { root.clearTimeout(this._expiryTimer); }
    var exp = tokenExpiry(this.token);
    if (!exp) { return; }
    var delay = exp * 1000 - Date.now() - this._options.tokenRefreshMs;
    this._expiryTimer = root.setTimeout(function () { self.emit("tokenWillExpire", self); }, Math.max(0, delay));
  };

  Device.prototype.register = function () {
    var self = this;
    if (this.state === Device.State.Destroyed) {
      return Promise.reject(TwilioError(31000, "Device is destroyed"));
    }
    this._wantRegistered = true;
    this.state = Device.State.Registering;
    this.emit("registering");
    var socket = this._connectSocket();
    return new Promise(function (resolve, reject) {
      socket.emit("register", { token: self.token }, function (answer) {
        if (!answer || !answer.ok) {
          var error = TwilioError((answer && answer.code) || 31000, (answer && answer.message) || "register failed");
          self.state = Device.State.Unregistered;
          self.emit("error", error);
          reject(error);
          return;
        }
        self.identity = answer.identity;
        self.state = Device.State.Registered;
        self._scheduleExpiry();
        self.emit("registered");
        resolve();
      });
    });
  };

  Device.prototype.unregister = function () {
    var self = this;
    this._wantRegistered = false;
    if (!this._socket) { return Promise.resolve(); }
    return new Promise(function (resolve) {
      self._socket.emit("unregister", {}, function () {
        self.state = Device.State.Unregistered;
        self.emit("unregistered");
        resolve();
      });
    });
  };

  Device.prototype.updateToken = function (token) {
    var self = this;
    this.token = token;
    this._scheduleExpiry();
    if (this._socket && this.state === Device.State.Registered) {
      this._socket.emit("register", { token: token }, function (answer) {
        if (!answer || !answer.ok) {
          self.emit("error", TwilioError((answer && answer.code) || 20101, (answer && answer.message) || "bad token"));
        }
      });
    }
  };

  Device.prototype.updateOptions = function (options) { Object.assign(this._options, options || {}); };

  Device.prototype.connect = function (options) {
    var self = this;
    var params = (options && options.params) || {};
    var socket = this._connectSocket();
    var ready = this.state === Device.State.Registered ? Promise.resolve() : this.register();
    return ready.then(function () {
      return new Promise(function (resolve, reject) {
        socket.emit("client_call", { params: params }, function (answer) {
          if (!answer || !answer.ok) {
            var error = TwilioError((answer && answer.code) || 31000, (answer && answer.message) || "connect failed");
            self.emit("error", error);
            reject(error);
            return;
          }
          var call = new Call(self, answer, "OUTGOING");
          call.customParameters = new Map(Object.entries(params));
          self._calls[call.sid] = call;
          self.calls.push(call);
          self._activeCall = call;
          resolve(call);
        });
      });
    });
  };

  Device.prototype.disconnectAll = function () {
    this.calls.slice().forEach(function (call) { call.disconnect(); });
  };

  Device.prototype.destroy = function () {
    this.disconnectAll();
    if (this._expiryTimer) { root.clearTimeout(this._expiryTimer); }
    if (this._socket) { this._socket.disconnect(); this._socket = null; }
    this.state = Device.State.Destroyed;
    this.emit("destroyed");
  };

  Device.prototype._forget = function (call) {
    delete this._calls[call.sid];
    this.calls = this.calls.filter(function (c) { return c !== call; });
    if (this._activeCall === call) { this._activeCall = null; }
  };

  root.Twilio = Object.assign(root.Twilio || {}, { Device: Device, Call: Call, isSimulated: true });
})(typeof window !== "undefined" ? window : this);
