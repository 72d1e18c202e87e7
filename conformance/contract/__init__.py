"""The contract in formats other tools read: OpenAPI 3.1, Postman v2.1 (issue 12)."""
