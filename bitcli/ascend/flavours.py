"""The ais_bench releases that existed, and what each one accepts (reference/ascend-tools.md §2, §8).

All four install as ``ais_bench`` 0.0.2, so the package version alone cannot tell
them apart; :func:`flavour_from` decides from ``python3 -m ais_bench --help`` and
the package layout:

============  ==================================  ========================================
release       how it is recognised                differences bit adapts to
============  ==================================  ========================================
tools 2022-11 ``--om`` alias of ``--model``       one integer ``--device`` only; ``sumary()``
tools 2023    neither ``--om`` nor ``--divide``   ``--device 0,1`` always splits the files;
                                                  ``device{D}`` folders; ``sumary()``
ait 2024      ``--divide_input`` in ``--help``    every device gets the whole folder unless
                                                  ``--divide_input``; ``device{D}_{i}``;
                                                  path-security checks; ``summary()``
tools 2025    ``ais_bench.infer.common`` exists   as ait 2024, plus: an existing ``--output``
              (its ``common/utils.py``)           with any mode bit beyond 0o750 is refused;
                                                  loop/warm-up/batch-size/file-count limits
============  ==================================  ========================================

Before 2022-11 ais_bench was the ``ais_infer.py`` script, not a package: bit
cannot drive it and says which release is the minimum (:data:`MINIMUM`).
"""

from __future__ import annotations

from dataclasses import dataclass

MINIMUM = "tools 2022-11"
MAX_LOOP = 100_000          # tools 2025: --loop ≤ 100000 (argparse error, exit 2)
MAX_WARMUP = 10_000         # tools 2025: --warmup_count ≤ 10000 (ValueError, exit 1)
MAX_BATCHSIZE = 4096        # tools 2025: --batchsize ≤ 4096 (ValueError, exit 1)
MAX_FILES = 100_000         # tools 2025: files in one --input folder


@dataclass(frozen=True)
class Flavour:
    """One ais_bench release and the rules bit follows for it."""

    label: str                    # e.g. "tools 2025"
    device_list: bool             # accepts --device 0,1 (one child process per device)
    divide_flag: bool             # has --divide_input (without it every device runs the whole folder)
    device_dir: str               # per-device result folder, formatted with dev= and i=
    path_checks: bool             # refuses symlinks, foreign owners, group/other-writable paths
    output_mode_max: int | None   # an existing --output may have no mode bit beyond this
    limits: bool                  # the tools 2025 limits apply
    summary_api: str              # InferSession method with the times: "summary" or "sumary"

    def device_folder(self, dev: int, index: int) -> str:
        """The folder name this release gives device ``dev`` at position ``index`` of --device."""
        return self.device_dir.format(dev=dev, i=index)


TOOLS_2022_11 = Flavour("tools 2022-11", device_list=False, divide_flag=False, device_dir="device{dev}",
                        path_checks=False, output_mode_max=None, limits=False, summary_api="sumary")
TOOLS_2023 = Flavour("tools 2023", device_list=True, divide_flag=False, device_dir="device{dev}",
                     path_checks=False, output_mode_max=None, limits=False, summary_api="sumary")
AIT_2024 = Flavour("ait 2024", device_list=True, divide_flag=True, device_dir="device{dev}_{i}",
                   path_checks=True, output_mode_max=0o755, limits=False, summary_api="summary")
TOOLS_2025 = Flavour("tools 2025", device_list=True, divide_flag=True, device_dir="device{dev}_{i}",
                     path_checks=True, output_mode_max=0o750, limits=True, summary_api="summary")
FLAVOURS = (TOOLS_2022_11, TOOLS_2023, AIT_2024, TOOLS_2025)


def flavour_from(help_text: str, has_common_package: bool) -> Flavour:
    """Which release printed ``help_text`` (``python3 -m ais_bench --help``).

    Args:
        help_text: the help output.
        has_common_package: whether ``ais_bench.infer.common`` exists (tools 2025 moved its
            utilities there).

    Returns:
        The matching :class:`Flavour`.
    """
    if "--divide_input" in help_text:
        return TOOLS_2025 if has_common_package else AIT_2024
    if "--om" in help_text.replace("--omit", ""):
        return TOOLS_2022_11
    return TOOLS_2023
