/* The widget's frame (served at /widget inside the host app's page). Its token and the host's
 * "Buy credits" address arrive in the fragment; the balance is read with the token and refreshed
 * every 30 s and whenever the page is shown again. */
(function () {
  "use strict";
  var script = document.currentScript;
  var hosts = (script.getAttribute("data-host-origins") || "").split(" ");
  var params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
  var token = params.get("token") || "";
  var box = document.getElementById("widget");
  var amount = document.getElementById("amount");
  var note = document.getElementById("note");
  var buy = document.getElementById("buy");
  try {
    var to = new URL(params.get("buy") || "");
    if (hosts.indexOf(to.origin) >= 0) {
      buy.href = to.href;
      buy.hidden = false;
    }
  } catch (e) {
    /* no usable address: no button */
  }
  var number = new Intl.NumberFormat("en-US");
  var timer = 0;
  function say(text, low) {
    note.textContent = text;
    note.hidden = !text;
    box.className = low ? "w low" : "w";
  }
  function load() {
    fetch("/widget/balance", {
      headers: { authorization: "Bearer " + token },
      cache: "no-store",
      credentials: "omit",
    })
      .then(function (r) {
        if (r.status === 401) throw "expired";
        if (!r.ok) throw "down";
        return r.json();
      })
      .then(function (b) {
        amount.textContent = number.format(b.balance) + " credits";
        say(b.balance < 0 ? "Credits are owed after a refund" : b.low ? "Running low" : "", b.low || b.balance < 0);
      })
      .catch(function (why) {
        if (why === "expired") {
          clearInterval(timer);
          amount.textContent = "—";
          say("Reload the page to see your balance", false);
        } else {
          say("Balance unavailable right now", false);
        }
      });
  }
  load();
  timer = setInterval(load, 30000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) load();
  });
})();
