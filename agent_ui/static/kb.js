/* The knowledge base in the console: the articles the pop suggests (and a search), read in place and sent to the
   customer by SMS or e-mail once the call is over. console.js hands each pop to ccKb.showPop(pop). */
(function () {
  "use strict";
  var $ = CC.$, el = CC.el, _ = CC._, show = CC.show;
  var pop = null;

  var panel = el("section", { className: "panel", id: "kb-panel", "aria-label": _("Knowledge base") }, [
    el("h2", { text: _("Suggested articles") }),
    el("ul", { className: "list", id: "kb-suggestions" }),
    el("input", { type: "search", id: "kb-search", maxlength: "200", placeholder: _("Search the knowledge base"),
                  "aria-label": _("Search the knowledge base") }),
    el("ul", { className: "list", id: "kb-results" }),
    el("div", { id: "kb-article", className: "hidden" }, [
      el("h3", { id: "kb-article-title" }), el("div", { id: "kb-article-solution", className: "script" })]),
    el("div", { id: "kb-status", role: "status" }),
  ]);
  var anchor = $("script-panel");
  anchor.parentNode.insertBefore(panel, anchor.nextSibling);

  function status(textValue, kind) {
    var box = $("kb-status");
    box.innerHTML = "";
    if (textValue) { box.appendChild(el("div", { className: "notice " + (kind || "info"), text: textValue })); }
  }

  function open(article) {
    var query = pop ? "?via=pop" : "";
    CC.api("GET", "/articles/" + article.id + query).then(function (full) {
      CC.text("kb-article-title", full.title);
      CC.text("kb-article-solution", full.solution || full.problem || "");
      show("kb-article", true);
    }).catch(function (e) { status(e.message, "error"); });
  }

  function send(article, channel) {
    var body = { channel: channel };
    if (pop && pop.call_sid) { body.call_sid = pop.call_sid; }
    if (channel === "email") { body.contact_id = pop.contact.id; }
    else if (pop && pop.e164) { body.to = pop.e164; }
    status(_("Sending…"));
    CC.api("POST", "/articles/" + article.id + "/send", body).then(function (message) {
      if (message.status === "opted_out") { status(_("%(to)s has opted out of our text messages", { to: message.to }), "error"); }
      else if (message.status === "failed") { status(_("Not sent: %(error)s", { error: message.error || "" }), "error"); }
      else if (channel === "email") { status(_("“%(title)s” sent by e-mail to %(to)s", { title: article.title, to: message.to })); }
      else { status(_("“%(title)s” sent by SMS to %(to)s", { title: article.title, to: message.to })); }
    }).catch(function (e) { status(e.message, "error"); });
  }

  function item(article) {
    var canText = !!(pop && (pop.e164 || pop.call_sid));
    var canMail = !!(pop && pop.contact && pop.contact.email);
    return el("li", { "data-article": String(article.id) }, [
      el("button", { type: "button", className: "secondary small", "data-kb": "open", text: article.title,
                     onclick: function () { open(article); } }),
      canText ? el("button", { type: "button", className: "small", "data-kb": "sms", text: _("Send by SMS"),
                               onclick: function () { send(article, "sms"); } }) : null,
      canMail ? el("button", { type: "button", className: "small", "data-kb": "email", text: _("Send by e-mail"),
                               onclick: function () { send(article, "email"); } }) : null,
    ]);
  }

  function fill(listId, articles, emptyText) {
    var list = $(listId);
    list.innerHTML = "";
    if (!articles.length) { if (emptyText) { list.appendChild(el("li", { className: "muted", text: emptyText })); } return; }
    articles.forEach(function (a) { list.appendChild(item(a)); });
  }

  var searchTimer = null;
  $("kb-search").addEventListener("input", function () {
    var q = this.value.trim();
    clearTimeout(searchTimer);
    if (!q) { fill("kb-results", []); return; }
    searchTimer = setTimeout(function () {
      CC.api("GET", "/articles/search?per_page=5&q=" + encodeURIComponent(q)).then(function (page) {
        fill("kb-results", page.items, _("No article matches"));
      }).catch(function (e) { status(e.message, "error"); });
    }, 250);
  });

  /* A new pop: its suggestions, and the caller they can be sent to (kept through wrap-up, until the next pop). */
  function showPop(newPop) {
    pop = newPop || null;
    status("");
    show("kb-article", false);
    fill("kb-suggestions", (pop && pop.suggested_articles) || [], _("No suggestions for this call"));
  }
  fill("kb-suggestions", [], _("Articles for the caller's queue show here."));
  window.ccKb = { showPop: showPop };
})();
