"""The simulated payment service provider (PSP) behind payment accounts."""
