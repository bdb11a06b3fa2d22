/* Atlas Credits widget, for the host app's pages:
 *   <script src="https://CREDITS/widget.js" data-token="wt_..." data-buy-url="/billing/credits" async></script>
 * data-token: a token the host app's backend got from POST /api/v1/users/{id}/widget-tokens.
 * data-buy-url: a route of the host app that makes a sign-in link and redirects to it.
 * data-target (optional): the id of the element to put the widget in (else: where the script is).
 * It adds one sandboxed iframe; the token travels in the fragment, which never reaches a server. */
(function () {
  "use strict";
  var s = document.currentScript;
  if (!s) return;
  var origin = new URL(s.src).origin;
  var buy = new URL(s.getAttribute("data-buy-url") || "/", location.href).href;
  var f = document.createElement("iframe");
  f.src = origin + "/widget#" + new URLSearchParams({ token: s.getAttribute("data-token") || "", buy: buy });
  f.title = s.getAttribute("data-title") || "Your credits";
  f.setAttribute("sandbox", "allow-scripts allow-same-origin allow-top-navigation-by-user-activation");
  f.setAttribute("referrerpolicy", "no-referrer");
  f.style.cssText = "border:0;width:100%;max-width:380px;height:64px;display:block";
  var target = document.getElementById(s.getAttribute("data-target") || "");
  if (target) target.appendChild(f);
  else s.parentNode.insertBefore(f, s);
})();
