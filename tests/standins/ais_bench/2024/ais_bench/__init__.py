"""Stand-in ais_bench package, release ait 2024 (ait/components/benchmark): see tests/standins/pylib/standin_ais.py."""

STANDIN_RELEASE = "2024"
