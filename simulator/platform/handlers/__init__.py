"""Connexion operation functions for openapi/newstore.yaml, one module per domain."""
