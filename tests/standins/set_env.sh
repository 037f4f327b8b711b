# Stand-in for /usr/local/Ascend/ascend-toolkit/set_env.sh (reference §3.4):
# puts the stand-in tools on PATH and the stand-in ais_bench on PYTHONPATH.
# STANDIN_AIS_VERSION picks the installed ais_bench release: 2022-11, 2023, 2024 or 2025 (default),
# or 2022-09 (the script era: aclruntime but no ais_bench package).
_standin_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ASCEND_TOOLKIT_HOME="${_standin_dir}/toolkit"
export ASCEND_HOME_PATH="${ASCEND_TOOLKIT_HOME}"
export ASCEND_OPP_PATH="${ASCEND_TOOLKIT_HOME}/opp"
export ASCEND_AICPU_PATH="${ASCEND_TOOLKIT_HOME}"
export TOOLCHAIN_HOME="${ASCEND_TOOLKIT_HOME}/toolkit"
export LD_LIBRARY_PATH="${ASCEND_TOOLKIT_HOME}/lib64:${LD_LIBRARY_PATH}"
export PYTHONPATH="${_standin_dir}/pylib:${_standin_dir}/ais_bench/${STANDIN_AIS_VERSION:-2025}:${PYTHONPATH}"
export PATH="${_standin_dir}/bin:${PATH}"
unset _standin_dir
