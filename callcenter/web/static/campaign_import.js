/* The list import's progress bar: poll the import's progress until it is done, then show the report. */
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var bar = document.getElementById("import-progress");
  var label = document.getElementById("progress-text");
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        bar.max = data.total_rows || 1;
        bar.value = data.processed_rows;
        label.textContent = data.processed_rows + " / " + data.total_rows;
        if (data.status === "done" || data.status === "failed") { window.location.reload(); return; }
        setTimeout(poll, 500);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
