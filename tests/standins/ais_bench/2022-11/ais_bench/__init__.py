"""Stand-in ais_bench package, release tools 2022-11 (Ascend/tools ais-bench_workload/tool/ais_infer): see tests/standins/pylib/standin_ais.py."""

STANDIN_RELEASE = "2022-11"
