/* Preview dialling in the console: pick one of your preview campaigns, see the next lead (name, number, the
   campaign's script with their fields merged in), then dial it or skip it. The call then runs like a click-to-call:
   your softphone rings first, then the lead, and the call ends in wrap-up. */
(function () {
  "use strict";
  var $ = CC.$, el = CC.el, _ = CC._, show = CC.show;
  var lead = null;

  var panel = el("section", { className: "panel hidden", id: "preview-panel", "aria-label": _("Campaign preview") }, [
    el("h2", { text: _("Campaign preview") }),
    el("div", { className: "row" }, [
      el("select", { id: "preview-campaign", "aria-label": _("Campaign"), style: "flex:1" }),
      el("button", { id: "preview-next", className: "secondary small", type: "button", text: _("Next lead") })]),
    el("div", { id: "preview-lead", className: "hidden" }, [
      el("h3", { id: "preview-name" }),
      el("div", { id: "preview-phone", className: "muted" }),
      el("div", { id: "preview-script", className: "script" }),
      el("div", { className: "row" }, [
        el("button", { id: "preview-dial", className: "good small", type: "button", text: _("Dial") }),
        el("button", { id: "preview-skip", className: "secondary small", type: "button", text: _("Skip") })])]),
    el("div", { id: "preview-status", role: "status" }),
  ]);
  var anchor = $("script-panel");
  anchor.parentNode.insertBefore(panel, anchor);

  function status(textValue, kind) {
    var box = $("preview-status");
    box.innerHTML = "";
    if (textValue) { box.appendChild(el("div", { className: "notice " + (kind || "info"), text: textValue })); }
  }

  function showLead(next) {
    lead = next;
    show("preview-lead", !!lead);
    if (!lead) { status(_("Nothing to dial in this campaign now."), "info"); return; }
    status("");
    CC.text("preview-name", lead.name || lead.phone);
    CC.text("preview-phone", lead.phone + " · " + _("attempts: %(count)s", { count: lead.attempts }));
    var fields = Object.keys(lead.custom_fields || {}).map(function (k) { return k + ": " + lead.custom_fields[k]; });
    CC.text("preview-script", (lead.script || "") + (fields.length ? "\n\n" + fields.join("\n") : ""));
  }

  function failed(error) { status(error.message || String(error), "error"); }

  $("preview-next").addEventListener("click", function () {
    var campaign = $("preview-campaign").value;
    if (!campaign) { return; }
    CC.api("POST", "/preview/campaigns/" + campaign + "/next").then(function (data) { showLead(data.lead); }).catch(failed);
  });
  $("preview-skip").addEventListener("click", function () {
    if (!lead) { return; }
    CC.api("POST", "/preview/leads/" + lead.id + "/skip").then(function () {
      showLead(null); status(_("Skipped: back in line later."), "info");
    }).catch(failed);
  });
  $("preview-dial").addEventListener("click", function () {
    var state = window.ccConsole;
    if (!lead || !state) { return; }
    if (state.call || state.offer) { status(_("Finish the current call first"), "warn"); return; }
    var dialled = lead;
    state.outbound = { to: dialled.phone };
    CC.api("POST", "/preview/leads/" + dialled.id + "/dial").then(function (data) {
      state.callSid = null;
      if (!state.callStartedAt) { CC.text("call-status", _("Calling %(number)s…", { number: data.to })); }
      show("preview-lead", false);
      status(_("Dialling %(name)s…", { name: dialled.name || dialled.phone }), "info");
      lead = null;
    }).catch(function (e) { state.outbound = null; failed(e); });
  });

  CC.api("GET", "/preview/campaigns").then(function (campaigns) {
    campaigns.forEach(function (c) { $("preview-campaign").appendChild(el("option", { value: c.id, text: c.name })); });
    show("preview-panel", campaigns.length > 0);
  }).catch(function () { /* no preview campaign for this user: the panel stays hidden */ });
})();
