"""Identifiers from one seeded random source, so that the same seed gives the same ids."""

from __future__ import annotations

import random
import threading
import uuid


class Ids:
    """Seeded id factory shared by everything that creates entities at run time."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def uuid(self) -> str:
        """A random UUID4 string from the seeded source."""
        with self._lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def token(self, nbytes: int = 24) -> str:
        """A random url-safe secret from the seeded source."""
        with self._lock:
            return self._random.randbytes(nbytes).hex()


def seeded_uuid(rng: random.Random) -> str:
    """A UUID4 string drawn from a given random source."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
