"""The mock ERP: records an integration writes (cash sales, sales orders, cash refunds, credit
memos) and the lookups the NetSuite example keeps."""
