// Swagger UI for /openapi.json, served offline from the local stack. "Try it out" gets its bearer
// token from the field above (prefilled with the demo page's session when there is one) through a
// request interceptor, so nobody has to paste it into the Authorize dialog.
(function () {
  "use strict";
  var input = document.getElementById("docs-token");
  var source = document.getElementById("token-source");
  try {
    var session = JSON.parse(sessionStorage.getItem("tpg.session") || "null");
    if (session && session.token) {
      input.value = session.token;
      source.textContent = "Using the demo page's session (" + session.label + ").";
    }
  } catch (e) { /* no usable session: leave the field empty */ }
  document.getElementById("token-form").addEventListener("submit", function (e) { e.preventDefault(); });

  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      var token = input.value.trim();
      if (token && !request.headers.Authorization) request.headers.Authorization = "Bearer " + token;
      return request;
    }
  });
})();
