// Swagger UI over this service's own OpenAPI document. validatorUrl is switched off:
// by default the page would send the document to validator.swagger.io for a badge.
(() => {
  const root = document.getElementById("swagger-ui");
  SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
  });
})();
