"""Which data a result folder was computed from, recorded at infer and checked at eval.

``bit infer`` adds to the result's summary (``result_bs{N}_summary.json``)
``data_sha256``: the digest of the input folder's data manifest identity
(:func:`bitcli.stages.data_files.data_digest`), and ``data_limit``. ``bit eval`` compares that with
the manifest of the data beside the labels it scores against (the workdir's
``dataset_bin`` for its ``label.txt``): outputs made from other data are refused
even when the count is the same (``bit data --synthetic 64`` after 64 real images).
A result folder with no record (ais_bench's own, or an older bit's) is scored
as before, with a note that its provenance is unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bitcli.artifacts import DATA_MANIFEST, atomic_write_text, read_json_object, summary_path
from bitcli.errors import DataError


def record_data(result: Any, input_dir: Path, limit: int | None) -> Any:
    """Write the input data's digest into ``result``'s summary; return ``result`` (an InferResult)."""
    from bitcli.stages.data_files import data_digest

    manifest = read_json_object(Path(input_dir) / DATA_MANIFEST)
    summary = read_json_object(result.summary_path)
    if summary is None or manifest is None or manifest.get("format") != "bit-data":
        return result  # a foreign folder: nothing to vouch for
    summary.update(data_sha256=data_digest(manifest), data_limit=limit, data_dir=str(Path(input_dir).resolve()))
    atomic_write_text(result.summary_path, json.dumps(summary))
    return result


def data_reason(output_dir: Path, manifest_path: Path) -> str | None:
    """Why the outputs in ``output_dir`` do not belong to the data ``manifest_path`` describes, or None.

    None also when either side has no record (a foreign folder, no current manifest): see :func:`check_data`.
    The words are the same in ``bit eval``'s refusal, ``bit all`` and ``bit status``.
    """
    from bitcli.stages.data_files import data_digest

    manifest = read_json_object(manifest_path)
    recorded = (read_json_object(summary_path(Path(output_dir))) or {}).get("data_sha256")
    if manifest is None or manifest.get("format") != "bit-data" or recorded is None:
        return None
    if recorded != data_digest(manifest):
        return f"outputs were made from other data than {Path(manifest_path).parent.name}"
    return None


def check_data(output_dir: Path, manifest_path: Path, *, bs: int | None = None) -> str | None:
    """Refuse outputs computed from other data than ``manifest_path`` describes.

    Returns:
        None when the outputs' data is the current data (or there is no current manifest to compare
        with), else a note that their provenance is unknown (no record in the summary).

    Raises:
        DataError: the summary records other data than the current manifest.
    """
    manifest = read_json_object(manifest_path)
    if manifest is None or manifest.get("format") != "bit-data":
        return None
    summary = read_json_object(summary_path(Path(output_dir))) or {}
    if summary.get("data_sha256") is None:
        return (f"{output_dir}: provenance unknown (its summary records no data digest; not written by this "
                f"bit's infer), scored against the labels as they are")
    reason = data_reason(output_dir, manifest_path)
    if reason is not None:
        data_dir = Path(manifest_path).parent
        fix = "bit infer --force" + (f" --bs {bs}" if bs is not None else "")
        raise DataError(
            f"{output_dir}: {reason} (the current {data_dir} changed since `bit infer`); its labels would score "
            f"the wrong images",
            hint=f"rerun inference on the current data: `{fix}`",
        )
    return None
