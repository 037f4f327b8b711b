"""Stand-in ais_bench package, release tools 2025 (Ascend/tools, the wheel msit benchmark installs): see tests/standins/pylib/standin_ais.py."""

STANDIN_RELEASE = "2025"
