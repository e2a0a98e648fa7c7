/* The emulator's caller page: dial a number over Socket.IO /sim and follow the call as text (and speech).
   Its own words go through `_()` from agent_ui/static/common.js (the catalogue the page embeds); what the line
   says (Say, the other party) is shown as it is said. */
(function () {
  "use strict";
  var _ = window._;
  // The call's status as the page shows it; data-status keeps the carrier's word for scripts and tests.
  var STATUS = {
    "idle": _("idle"), "dialing": _("dialing"), "ringing": _("ringing"), "in-progress": _("in progress"),
    "completed": _("completed"), "busy": _("busy"), "no-answer": _("no answer"), "failed": _("failed"),
    "canceled": _("canceled")
  };
  var socket = window.io("/sim", { transports: ["websocket", "polling"] });
  var callSid = null;
  var $ = function (id) { return document.getElementById(id); };
  var controls = Array.prototype.slice.call(document.querySelectorAll("#keypad button, #speech button"));

  function setStatus(status) {
    $("status").textContent = STATUS[status] || status;
    $("status").dataset.status = status;
    var live = callSid !== null;
    $("dial").disabled = live;
    $("hangup").disabled = !live;
    controls.forEach(function (button) { button.disabled = !live; });
  }

  function line(text, kind) {
    var item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    $("transcript").appendChild(item);
  }

  // The browser's voices load asynchronously; keep the latest list.
  var voices = [];
  function loadVoices() { voices = window.speechSynthesis ? window.speechSynthesis.getVoices() || [] : []; }
  if (window.speechSynthesis) {
    loadVoices();
    if (window.speechSynthesis.addEventListener) {
      window.speechSynthesis.addEventListener("voiceschanged", loadVoices);
    }
  }

  // A Say's language as the browser spells it: Twilio's Mandarin/Cantonese codes (cmn-CN, cmn-Hans-CN, yue-CN)
  // become zh-CN / zh-TW / zh-HK, the tags browsers give their Chinese voices.
  function browserLang(language) {
    var parts = String(language || "").replace(/_/g, "-").split("-");
    var primary = parts[0].toLowerCase();
    if (primary === "cmn" || primary === "zh") {
      var rest = parts.slice(1).join("-").toLowerCase();
      if (/hant|tw/.test(rest)) { return "zh-TW"; }
      if (/hk/.test(rest)) { return "zh-HK"; }
      return "zh-CN";
    }
    if (primary === "yue") { return "zh-HK"; }
    return parts.join("-");
  }

  // The voice to read a prompt in `language` with: the exact locale if the browser has it, else any voice of that
  // language (for Chinese: any whose lang starts with zh), else none (the browser's default voice).
  function voiceFor(language) {
    if (!language) { return null; }
    var wanted = browserLang(language).toLowerCase();
    var primary = wanted.split("-")[0];
    var exact = null, same = null;
    voices.forEach(function (voice) {
      var lang = String(voice.lang || "").replace(/_/g, "-").toLowerCase();
      if (!exact && lang === wanted) { exact = voice; }
      if (!same && lang.split("-")[0] === primary) { same = voice; }
    });
    return exact || same;
  }

  function speak(text, language) {
    if ($("voice").checked && window.speechSynthesis && window.SpeechSynthesisUtterance) {
      var utterance = new window.SpeechSynthesisUtterance(text);
      if (language) { utterance.lang = browserLang(language); }
      var voice = voiceFor(language);
      if (voice) { utterance.voice = voice; }
      window.speechSynthesis.speak(utterance);
    }
  }

  socket.on("call_event", function (payload) {
    if (payload.call_sid !== callSid) { return; }
    var event = payload.event;
    switch (event.type) {
      case "say": line(event.text, "say"); speak(event.text, event.language); break;
      case "heard": line(_("Other party: %(text)s", { text: event.text }), "say"); speak(event.text); break;
      case "play": line(event.url ? "♪ " + event.url : _("tones %(digits)s", { digits: event.digits }), "info"); break;
      case "beep": line(_("beep — recording"), "info"); break;
      case "ringing": setStatus("ringing"); break;
      case "answered": setStatus("in-progress"); break;
      case "bridged": line(_("connected"), "info"); break;
      case "conference": line(_("conference: %(event)s", { event: event.event }), "info"); break;
      case "rejected": line(_("call rejected (%(reason)s)", { reason: event.reason }), "info"); break;
      case "ended":
        line(_("call ended: %(status)s", { status: STATUS[event.status] || event.status }), "info");
        callSid = null;
        setStatus(event.status);
        if (window.speechSynthesis) { window.speechSynthesis.cancel(); }
        break;
      default: break;
    }
  });

  $("dial").addEventListener("click", function () {
    $("transcript").innerHTML = "";
    socket.emit("caller_dial", { from: $("from").value, to: $("to").value }, function (answer) {
      if (!answer || !answer.ok) {
        line((answer && answer.message) || _("the call could not be placed"), "info");
        return;
      }
      callSid = answer.call_sid;
      setStatus("dialing");
    });
  });

  $("hangup").addEventListener("click", function () {
    if (callSid) { socket.emit("hangup", { call_sid: callSid }); }
  });

  document.getElementById("keypad").addEventListener("click", function (event) {
    var digit = event.target.dataset && event.target.dataset.digit;
    if (digit && callSid) {
      socket.emit("digits", { call_sid: callSid, digits: digit });
      line(_("you pressed %(digit)s", { digit: digit }), "info");
    }
  });

  $("speech").addEventListener("submit", function (event) {
    event.preventDefault();
    var phrase = $("phrase").value.trim();
    if (phrase && callSid) {
      socket.emit("speak", { call_sid: callSid, text: phrase });
      line(_("you said: %(phrase)s", { phrase: phrase }), "info");
      $("phrase").value = "";
    }
  });

  // The texts this phone (the "From" number) received, polled from the carrier: what the product sent it.
  function refreshTexts() {
    var number = $("from").value.trim();
    if (!number) { return; }
    fetch("/sim/texts?to=" + encodeURIComponent(number), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { messages: [] }; })
      .then(function (data) {
        var list = $("texts");
        list.innerHTML = "";
        data.messages.forEach(function (m) {
          var item = document.createElement("li");
          item.dataset.sid = m.sid;
          item.textContent = _("From %(from)s: %(body)s", { from: m.from, body: m.body });
          list.appendChild(item);
        });
      })
      .catch(function () {});
  }
  setInterval(refreshTexts, 2000);
  refreshTexts();

  setStatus("idle");
})();
