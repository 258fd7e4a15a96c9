"""The HTTP API: routes, the error-to-HTTP mapping, the service, request/response bodies, auth."""
