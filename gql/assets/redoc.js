// ReDoc for the REST face, reading the OpenAPI document next to this page. The page carries
// the nonce its Content-Security-Policy allows for the styles ReDoc injects.
(function () {
  "use strict";

  const root = document.getElementById("redoc");
  Redoc.init("openapi.json", {
    nonce: root.dataset.nonce,
    // perfect-scrollbar's stylesheet is injected before ReDoc knows the nonce, so the CSP
    // refuses it: use the browser's own scrollbars.
    nativeScrollbars: true,
  }, root);
})();
