"""The fake NewStore platform: one module per domain, no web framework imports."""
