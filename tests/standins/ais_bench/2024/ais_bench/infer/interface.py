"""InferSession of release 2024 (reference §2.7, §8.5)."""
from standin_ais_api import SummarySession as InferSession  # noqa: F401
