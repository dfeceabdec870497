"""newstore-sim: a stateful simulator of the NewStore Omnichannel Cloud."""

__version__ = "0.1.0"
