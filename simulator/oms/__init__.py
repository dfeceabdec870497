"""The external OMS around the platform: its webhook contract and the platform's checked calls."""
