"""Stand-in ais_bench package, release tools 2023 (Ascend/tools ais-bench_workload/tool/ais_bench): see tests/standins/pylib/standin_ais.py."""

STANDIN_RELEASE = "2023"
