/* Who the call is with, from the pop: a new caller's contact created with their number, or the pick among several
   contacts that share it (the call is linked to the one picked, once), and the caller's customer segment (RFM).
   console.js hands each pop to ccPopContact.showPop(pop, { showContact: fn }). */
(function () {
  "use strict";
  var $ = CC.$, el = CC.el, _ = CC._, show = CC.show;
  // The segment names (services/rfm.py SEGMENTS), written out so extraction puts them in the catalogue.
  var SEGMENTS = { champions: _("Champions"), loyal: _("Loyal"), "new": _("New customers"), at_risk: _("At risk"),
                   hibernating: _("Hibernating"), potential: _("Potential") };
  var pop = null, consoleApi = null;

  // The new-caller card: the number (from the call, not typed) and a name, under the empty customer panel.
  var form = el("form", { id: "pop-new-contact", className: "hidden", "aria-label": _("Create contact") }, [
    el("h2", { text: _("Create contact") }),
    el("div", { className: "muted", id: "pnc-phone" }),
    el("div", { className: "row" }, [
      el("div", { style: "flex:1" }, [el("label", { "for": "pnc-first", text: _("First name") }),
                                       el("input", { type: "text", id: "pnc-first", maxlength: "100" })]),
      el("div", { style: "flex:1" }, [el("label", { "for": "pnc-last", text: _("Last name") }),
                                       el("input", { type: "text", id: "pnc-last", maxlength: "100" })])]),
    el("label", { "for": "pnc-email", text: _("Email") }),
    el("input", { type: "email", id: "pnc-email", maxlength: "254" }),
    el("div", { className: "row", style: "margin-top:6px" }, [
      el("button", { type: "submit", id: "pnc-create", className: "small", text: _("Create contact") })]),
  ]);
  var status = el("div", { id: "pop-contact-status", role: "status" });
  var empty = $("customer-empty");
  empty.parentNode.insertBefore(status, empty.nextSibling);
  empty.parentNode.insertBefore(form, empty.nextSibling);
  // The segment beside the caller's name on the offer card.
  var segmentTag = el("span", { id: "offer-segment", className: "tag hidden" });
  $("offer-vip").parentNode.appendChild(segmentTag);

  function say(textValue, kind) {
    status.innerHTML = "";
    if (textValue) { status.appendChild(el("div", { className: "notice " + (kind || "info"), text: textValue })); }
  }
  function segmentText(rfm) {
    return rfm ? _("Segment: %(segment)s", { segment: SEGMENTS[rfm.segment] || rfm.segment }) : "";
  }
  function callPath() { return "/calls/" + encodeURIComponent(pop.call_sid) + "/contact"; }

  function showLinked(contact) {
    show(form, false);
    consoleApi.showContact(Object.assign({}, contact, { name: contact.display_name || contact.name }));
  }
  function markPicked(contactId) {
    Array.prototype.forEach.call($("candidate-list").querySelectorAll("li[data-contact]"), function (li) {
      var picked = Number(li.dataset.contact) === contactId;
      li.classList.toggle("picked", picked);
      li.querySelector("button").textContent = picked ? _("Linked to this call") : _("This is the caller");
    });
  }
  function pick(candidate) {
    var forPop = pop;
    CC.api("PUT", callPath(), { contact_id: candidate.id }).then(function (answer) {
      if (pop !== forPop) { return; }
      markPicked(answer.contact_id);
      say(_("The call is linked to %(name)s", { name: candidate.name }), "info");
      showLinked(candidate);
    }).catch(function (e) { say(e.message, "error"); });
  }
  function renderCandidates() {
    var list = $("candidate-list");
    list.innerHTML = "";
    (pop.candidates || []).forEach(function (c) {
      list.appendChild(el("li", { "data-contact": String(c.id) }, [
        el("span", { text: c.name + (c.account ? " · " + c.account.name : "") + " " }),
        c.rfm ? el("span", { className: "tag", "data-segment": c.rfm.segment, text: segmentText(c.rfm) }) : null,
        el("button", { type: "button", className: "small secondary", text: _("This is the caller"),
                       onclick: function () { pick(c); } }),
      ]));
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var forPop = pop;
    $("pnc-create").disabled = true;
    CC.api("POST", callPath(), { first_name: $("pnc-first").value.trim(), last_name: $("pnc-last").value.trim(),
                                 email: $("pnc-email").value.trim() || null })
      .then(function (contact) {
        if (pop !== forPop) { return; }
        say(_("Contact created and linked to this call"), "info");
        showLinked(contact);
      })
      .catch(function (e) { say(e.message, "error"); })
      .then(function () { $("pnc-create").disabled = false; });
  });

  // Back after a reload: the call may already be linked (to a pick, or to the contact created from it).
  function restore(forPop) {
    CC.api("GET", callPath()).then(function (answer) {
      if (pop !== forPop || !answer.contact_id) { return; }
      var candidate = (pop.candidates || []).filter(function (c) { return c.id === answer.contact_id; })[0];
      if (candidate) { markPicked(candidate.id); showLinked(candidate); return; }
      return CC.api("GET", "/contacts/" + answer.contact_id).then(function (contact) {
        if (pop === forPop) { showLinked(contact); }
      });
    }).catch(function (e) { say(e.message, "error"); });
  }

  function showPop(newPop, api) {
    pop = newPop || {};
    consoleApi = api;
    say("");
    var rfm = pop.contact ? pop.contact.rfm : null;
    segmentTag.textContent = segmentText(rfm);
    if (rfm) { segmentTag.dataset.segment = rfm.segment; }
    show(segmentTag, !!rfm);
    var isNew = !!pop.new_contact && !!pop.call_sid;
    form.reset();
    CC.text("pnc-phone", isNew ? _("Number: %(number)s", { number: pop.new_contact.phone_display || pop.from_display || "" }) : "");
    show(form, isNew);
    if ((pop.candidates || []).length) { renderCandidates(); }
    if (pop.call_sid && (isNew || (pop.candidates || []).length)) { restore(pop); }
  }

  window.ccPopContact = { showPop: showPop };
})();
