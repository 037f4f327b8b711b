"""InferSession of release 2023 (reference §2.7, §8.5)."""
from standin_ais_api import SumarySession as InferSession  # noqa: F401
