"""The Ascend contract in one place: what bit knows about ais_bench, ATC and npu-smi.

Every fact comes from reference/ascend-tools.md (§8 for the newest versions):

* :mod:`~bitcli.ascend.env`         CANN's environment, ais_bench's importability, flavour and version
* :mod:`~bitcli.ascend.flavours`    the four real ais_bench releases and what each one accepts
* :mod:`~bitcli.ascend.ais_argv`    ais_bench command lines and the limits checked before calling
* :mod:`~bitcli.ascend.ais_paths`   folder modes and the path-security refusals, explained
* :mod:`~bitcli.ascend.ais_output`  reading ais_bench's stdout; its failures in one line with the fix
* :mod:`~bitcli.ascend.ais_results` result and device folders, summaries, multi-device sums
* :mod:`~bitcli.ascend.ais_run`     running ais_bench over a folder or in pure-inference mode
* :mod:`~bitcli.ascend.atc`         ATC's command line and its error codes
* :mod:`~bitcli.ascend.npu_smi`     ``npu-smi info`` tables, chip names and SoC versions

Nothing here imports numpy, torch or ais_bench at module level.
"""
