"""Framework-free building blocks: clock, store, errors, ids and the seeded world."""
