"""Stand-in for the ais_bench wheel (reference/ascend-tools.md §2), run as `python -m ais_bench`.

STANDIN_AIS_VERSION selects the behaviour of one historical release:
  2024 (default, ait)  path-security checks, sibling <dir>_summary.json, `batchsize.mean(` line,
                       multi-device folders device{D}_{i}, every device runs the whole input
  2023 (tools)         sibling summary, `batchsize.mean(` line, device{D} folders, input split
  2022-11              sibling summary, `throughput 1000*batchsize({})/...` line
  2022-09              sumary.json *inside* the result folder, `batchsize({})` line, --batchsize default 1
  2022-06              like 2022-09, `throughput (1000*batchsize/NPU_compute_time): {}`,
                       outputs named sample_id_<n>_output_<k>
STANDIN_NPU_DEVICES    comma list of device ids that "exist" (default 0,1,2,3)
"""
