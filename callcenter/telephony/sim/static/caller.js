/* The emulator's caller page: dial a number over Socket.IO /sim and follow the call as text (and speech). */
(function () {
  "use strict";
  var socket = window.io("/sim", { transports: ["websocket", "polling"] });
  var callSid = null;
  var $ = function (id) { return document.getElementById(id); };
  var controls = Array.prototype.slice.call(document.querySelectorAll("#keypad button, #speech button"));

  function setStatus(status) {
    $("status").textContent = status;
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

  function speak(text) {
    if ($("voice").checked && window.speechSynthesis && window.SpeechSynthesisUtterance) {
      window.speechSynthesis.speak(new window.SpeechSynthesisUtterance(text));
    }
  }

  socket.on("call_event", function (payload) {
    if (payload.call_sid !== callSid) { return; }
    var event = payload.event;
    switch (event.type) {
      case "say": line(event.text, "say"); speak(event.text); break;
      case "heard": line("Other party: " + event.text, "say"); speak(event.text); break;
      case "play": line(event.url ? "♪ " + event.url : "tones " + event.digits, "info"); break;
      case "beep": line("beep — recording", "info"); break;
      case "ringing": setStatus("ringing"); break;
      case "answered": setStatus("in-progress"); break;
      case "bridged": line("connected", "info"); break;
      case "conference": line(event.event + " conference", "info"); break;
      case "rejected": line("call rejected (" + event.reason + ")", "info"); break;
      case "ended":
        line("call ended: " + event.status, "info");
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
        line((answer && answer.message) || "the call could not be placed", "info");
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
      line("you pressed " + digit, "info");
    }
  });

  $("speech").addEventListener("submit", function (event) {
    event.preventDefault();
    var phrase = $("phrase").value.trim();
    if (phrase && callSid) {
      socket.emit("speak", { call_sid: callSid, text: phrase });
      line("you said: " + phrase, "info");
      $("phrase").value = "";
    }
  });

  setStatus("idle");
})();
