/* The live call's recording in the console (card details): whether the call is recorded, pause and resume, and a
   start button when the queue's policy is "on demand". console.js keeps the call in window.ccConsole; this file
   only watches the in-call card appear and asks /api/v1/recordings/live/<call> for the state. */
(function () {
  "use strict";
  var $ = CC.$, el = CC.el, _ = CC._, show = CC.show;
  var card = $("in-call");
  if (!card) { return; }

  var box = el("div", { id: "recording", className: "hidden", "aria-live": "polite" }, [
    el("span", { id: "recording-state", className: "muted" }),
    el("button", { type: "button", id: "recording-start", className: "secondary small hidden", text: _("Start recording"),
                   onclick: function () { act("start"); } }),
    el("button", { type: "button", id: "recording-pause", className: "secondary small hidden", text: _("Pause recording"),
                   onclick: function () { act("pause"); } }),
    el("button", { type: "button", id: "recording-resume", className: "secondary small hidden", text: _("Resume recording"),
                   onclick: function () { act("resume"); } }),
  ]);
  var controls = card.querySelector(".controls");
  card.insertBefore(box, controls ? controls.nextSibling : card.firstChild);

  function callSid() { return window.ccConsole && window.ccConsole.callSid; }

  function render(state) {
    if (!state || !state.connected || state.policy === "off") { show(box, false); return; }
    var labels = { "in-progress": _("Recording"), paused: _("Recording paused") };
    CC.text("recording-state", state.status ? labels[state.status] || state.status : _("Not recording"));
    show("recording-start", !!state.can_start);
    show("recording-pause", state.status === "in-progress");
    show("recording-resume", state.status === "paused");
    show(box, true);
  }

  function failed(error) {
    CC.text("recording-state", error.message);
    show(box, true);
  }

  function refresh() {
    var sid = callSid();
    if (!sid || card.classList.contains("hidden")) { show(box, false); return; }
    CC.api("GET", "/recordings/live/" + encodeURIComponent(sid)).then(render).catch(function () { show(box, false); });
  }

  function act(action) {
    var sid = callSid();
    if (!sid) { return; }
    CC.api("POST", "/recordings/live/" + encodeURIComponent(sid), { action: action }).then(render).catch(failed);
  }

  // The card shows, then the call status says the call is connected; a recording started on answer is known a
  // moment later.
  var observer = new MutationObserver(function () { refresh(); setTimeout(refresh, 1500); });
  observer.observe(card, { attributes: true, attributeFilter: ["class"] });
  if ($("call-status")) { observer.observe($("call-status"), { childList: true, characterData: true, subtree: true }); }
  window.ccRecording = { refresh: refresh };
})();
