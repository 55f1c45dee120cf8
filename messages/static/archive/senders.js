// The sender filter's suggestions: the chat's senders by name, fetched once from the admin's
// JSON endpoint (permission-checked there) when the field is first used. No other script.
"use strict";
(function () {
  const list = document.getElementById("sender-names");
  const field = document.getElementById("id_sender");
  if (!list || !field) return;
  let loaded = false;
  field.addEventListener("focus", function () {
    if (loaded) return;
    loaded = true;
    fetch(list.dataset.source, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : []; })
      .then(function (senders) {
        for (const sender of senders) {
          const option = document.createElement("option");
          option.value = sender.name;
          option.label = "user " + sender.id;
          list.appendChild(option);
        }
      });
  });
})();
