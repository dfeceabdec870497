"""The simulator's own control plane (/_sim): what a tester can do that a tenant can't."""
