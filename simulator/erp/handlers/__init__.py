"""HTTP handlers of the mock ERP (openapi/erp.yaml); the records live in simulator.erp."""
