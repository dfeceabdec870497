"""The Event Stream: integrations, the durable outbox, and the dispatcher that delivers it."""
