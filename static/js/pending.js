// The progress box of a page computed in the background (templates/_pending.html): follows the job at
// /api/v1/jobs/<id>, shows its progress and the server's sentence (in the reader's language), and
// reloads the page when the job is done or failed (the server then draws the map or says what is wrong).
// No words here: they come from the server.
(function () {
  "use strict";
  var box = document.getElementById("pending");
  if (!box) { return; }
  var bar = document.getElementById("pending-progress");
  var text = document.getElementById("pending-text");
  var delay = 700;
  function poll() {
    fetch(box.dataset.status, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (job) {
        if (job && (job.status === "done" || job.status === "failed")) {
          location.reload();
          return;
        }
        if (job) {
          bar.value = job.progress || 0;
          text.textContent = job.text;
        }
        delay = Math.min(delay * 1.3, 3000);
        setTimeout(poll, delay);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, delay);
})();
