"""`bit status`: every artefact of a workdir, what it was made from, when, and whether it is current.

Read-only: it hashes files and reads sidecars, and writes nothing (not even the workdir). Each
artefact is judged against what it was made from *as that is on disk now* (the rule of
:mod:`bitcli.provenance`): its own content still has the recorded digest, and its recorded
inputs still have theirs. A row is ``current``, ``stale`` (with the reason) or ``unknown``
(no record to judge by, e.g. a result folder written by ais_bench itself).

The report files carry no sidecar: report.json/report.md are ``stale`` when a record they
summarise (accuracy, bench) was rewritten after them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bitcli.artifacts import DATA_MANIFEST, Artifacts, read_json_object, read_sidecar, summary_path
from bitcli.provenance import digest_or_missing, stale_reason

_RESULT = re.compile(r"^result_bs(\d+)$")
_ACCURACY = re.compile(r"^result_bs(\d+)_accuracy\.json$")


@dataclass
class ArtifactStatus:
    """One artefact's row."""

    artifact: str              # what it is: "data", "onnx", "sim bs4", "om bs4", "outputs bs4", ...
    path: Path
    made_from: str
    made_at: str | None
    current: bool | None       # None: no record to judge by
    reason: str | None = None  # why not current (or why unknown)
    inputs: list[Path] = field(default_factory=list)  # artefacts it was made from (a stale one makes it stale)

    @property
    def state(self) -> str:
        return {True: "current", False: "stale", None: "unknown"}[self.current]

    def to_json(self, workdir: Path) -> dict[str, Any]:
        return {"artifact": self.artifact, "path": _rel(self.path, workdir), "made_from": self.made_from,
                "made_at": self.made_at, "state": self.state, "current": self.current, "reason": self.reason}


@dataclass
class StatusResult:
    """Every artefact found in the workdir."""

    workdir: Path
    exists: bool
    rows: list[ArtifactStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "exists": self.exists,
                "results": [r.to_json(self.workdir) for r in self.rows]}


def workdir_status(workdir: Path) -> StatusResult:
    """Every artefact under ``workdir``, in pipeline order; an absent workdir gives no rows."""
    workdir = Path(workdir)
    result = StatusResult(workdir, workdir.is_dir())
    if not result.exists:
        return result
    names = Artifacts(workdir)
    rows = [_data_row(names), _onnx_row(names)]
    rows += [_sim_row(p) for p in sorted(workdir.glob("*_sim.onnx"), key=_bs_key)]
    rows += [_om_row(p) for p in sorted(workdir.glob("*.om"), key=_bs_key)]
    rows += [_other_row(p) for p in _other_models(workdir)]
    rows += _result_rows(names)
    rows += _bench_rows(names)
    rows += _report_rows(names, [r for r in rows if r is not None])
    result.rows = _propagate([r for r in rows if r is not None])
    return result


def _propagate(rows: list[ArtifactStatus]) -> list[ArtifactStatus]:
    """A row made from a stale artefact is stale too (rows come in pipeline order: one pass)."""
    by_path = {Path(r.path).resolve(): r for r in rows if not r.artifact.startswith("bench ")}  # bench rows share bench.json
    for row in rows:
        found = [by_path.get(Path(p).resolve()) for p in row.inputs]
        stale = [r for r in found if r is not None and r.current is False]
        if row.current is not False and stale:
            row.current, row.reason = False, f"made from {stale[0].path.name}, which is stale"
    return rows


def _model_of(names: Artifacts, backend: str, bs: int) -> list[Path]:
    """The model a backend's result of ``bs`` was made from, by the standard names (none for torch)."""
    if backend == "ascend":
        return [names.om(bs)]
    if backend == "torch":
        return []
    return [names.sim_onnx(bs) if names.sim_onnx(bs).exists() else names.onnx]


# --------------------------------------------------------------------------- models and data


def _data_row(names: Artifacts) -> ArtifactStatus | None:
    from bitcli.stages.data_files import PARTIAL, complete, files_digest

    folder = names.dataset_bin
    manifest = read_json_object(names.data_manifest)
    if manifest is None:
        if (folder / PARTIAL).is_file():
            return ArtifactStatus("data", folder, "?", None, False, f"{folder.name} is incomplete (bit data was interrupted)")
        return None if not folder.is_dir() else ArtifactStatus("data", folder, "?", None, None, "no manifest (not made by bit data)")
    source = manifest.get("source_path") or manifest.get("source_name")
    kind = "synthetic images" if manifest.get("synthetic") else "images"
    made_from = f"{_rel(Path(str(source)), names.workdir)}, {manifest.get('count')} {kind}"
    row = ArtifactStatus("data", folder, made_from, manifest.get("made_at") or _mtime(names.data_manifest), True)
    recorded_labels = (read_sidecar(names.label_txt) or {}).get("sha256")  # what bit data wrote, when it says
    if manifest.get("files_sha256") not in (None, files_digest(folder)) or not complete(folder, manifest):
        row.current, row.reason = False, f"{folder.name}: files changed or missing since they were written"
    elif not names.label_txt.is_file() or recorded_labels not in (None, digest_or_missing(names.label_txt)):
        row.current, row.reason = False, f"{names.label_txt.name} changed or missing since it was written"
    elif manifest.get("source_path") and Path(manifest["source_path"]).is_file() and \
            digest_or_missing(Path(manifest["source_path"])) != manifest.get("source_sha256"):
        row.current, row.reason = False, f"the data set {manifest['source_path']} changed after {folder.name} was made"
    return row


def _onnx_row(names: Artifacts) -> ArtifactStatus | None:
    path = names.onnx
    if not path.exists():
        return None
    meta = read_sidecar(path) or {}
    source = meta.get("weights_source") or next(iter(meta.get("made_from") or {}), "?")
    expected: dict[str, Any] = {}
    if source != "?" and Path(str(source)).is_file():  # the checkpoint still there: is it the one exported?
        expected["weights_digest"] = digest_or_missing(Path(str(source)))
    why = stale_reason(path, expected, inputs={"weights_digest": f"the weights {source} changed"})
    return ArtifactStatus("onnx", path, Path(str(source)).name, meta.get("made_at") or _mtime(path), why is None, why)


def _sim_row(path: Path) -> ArtifactStatus:
    meta = read_sidecar(path) or {}
    recorded = Path(str(meta.get("source") or "bit.onnx"))
    # a workdir may have been moved or copied: its own model of that name is the source, when there
    source = path.parent / recorded.name if (path.parent / recorded.name).exists() else recorded
    exported = (read_sidecar(source) or {}).get("stage") == "export"
    why = stale_reason(path, {"source_digest": digest_or_missing(source)}, inputs={
        "source_digest": f"{source.name} was re-exported" if exported else f"{source.name} changed"})
    return ArtifactStatus(f"sim bs{meta.get('bs', _bs_key(path))}", path, source.name,
                          meta.get("made_at") or _mtime(path), why is None, why, [source])


def _om_row(path: Path) -> ArtifactStatus:
    meta = read_sidecar(path) or {}
    onnx = path.parent / str(meta.get("onnx") or path.name.replace(".om", "_sim.onnx"))
    why = stale_reason(path, {"onnx_sha256": digest_or_missing(onnx)}, inputs={"onnx_sha256": f"{onnx.name} changed"})
    made_from = f"{onnx.name} ({meta.get('soc_version', '?')})"
    return ArtifactStatus(f"om bs{meta.get('batch_size', _bs_key(path))}", path, made_from,
                          meta.get("made_at") or _mtime(path), why is None, why, [onnx])


def _other_models(workdir: Path) -> list[Path]:
    """Other models bit wrote in the workdir (a sidecar says so), e.g. ``bit_bs8_int8.onnx``."""
    return sorted(p for p in workdir.glob("*.onnx")
                  if p.name != "bit.onnx" and not p.name.endswith("_sim.onnx") and read_sidecar(p) is not None)


def _other_row(path: Path) -> ArtifactStatus:
    meta = read_sidecar(path) or {}
    made_from = ", ".join(meta.get("made_from") or {}) or str(meta.get("source", "?"))
    why = stale_reason(path)
    return ArtifactStatus(f"model ({meta.get('stage', 'bit')})", path, made_from, meta.get("made_at") or _mtime(path),
                          why is None, why)


# --------------------------------------------------------------------------- results, bench, report


def _result_rows(names: Artifacts) -> list[ArtifactStatus]:
    root = names.result_root
    if not root.is_dir():
        return []
    rows: list[ArtifactStatus] = []
    folders = sorted((p for p in root.rglob("result_bs*") if p.is_dir() and _RESULT.match(p.name)), key=_slot_key)
    for folder in folders:
        rows.append(_outputs_row(names, folder))
        accuracy = folder.with_name(folder.name + "_accuracy.json")
        if accuracy.is_file():
            rows.append(_accuracy_row(names, folder, accuracy))
    return rows


def _outputs_row(names: Artifacts, folder: Path) -> ArtifactStatus:
    from bitcli.stages.provenance import data_reason

    summary = read_json_object(summary_path(folder)) or {}
    slot = folder.parent.name if folder.parent != names.result_root else summary.get("backend", "?")
    made_from = f"{names.dataset_bin.name} on {summary.get('backend', slot)}"
    backend = str(summary.get("backend") or slot).split("-")[0]
    row = ArtifactStatus(f"outputs bs{_bs_key(folder)}", folder, made_from,
                         _mtime(summary_path(folder)) or _mtime(folder), None, "no record of the data it was made from",
                         [names.dataset_bin, *_model_of(names, backend, _bs_key(folder))])
    if read_sidecar(folder) is not None:
        row.reason = stale_reason(folder)
        row.current = row.reason is None
    if row.current is not False and summary.get("data_sha256") and names.data_manifest.is_file():
        row.reason = data_reason(folder, names.data_manifest)  # the words bit eval refuses with
        row.current = row.reason is None
    return row


def _accuracy_row(names: Artifacts, folder: Path, accuracy: Path) -> ArtifactStatus:
    from bitcli.stages.results import eval_key

    doc = read_json_object(accuracy) or {}
    made_from = f"{folder.name}, {doc.get('samples', '?')} samples"
    row = ArtifactStatus(f"accuracy bs{_bs_key(folder)}", accuracy, made_from, _mtime(accuracy), None,
                         "no record of what it was scored from (not written by this bit)", [folder])
    meta = read_sidecar(accuracy)
    if meta is not None:  # the key bit eval and bit all record (bitcli.stages.results.eval_key)
        expected = eval_key(folder, names.label_txt, names.data_manifest, meta.get("limit"))
        row.reason = stale_reason(accuracy, expected, inputs={
            "summary": f"the outputs of {folder.name} changed", "outputs": f"the outputs of {folder.name} changed",
            "labels": f"{names.label_txt.name} changed", "data": f"{names.dataset_bin.name} changed"})
        row.current = row.reason is None
    elif (_mtime_ns(summary_path(folder)) or 0) > (_mtime_ns(accuracy) or 0):
        row.current, row.reason = False, f"{folder.name} was rewritten after it was scored"
    return row


def _bench_rows(names: Artifacts) -> list[ArtifactStatus]:
    """One row per (backend × precision, bs) of bench.json: current while its model file is the one it timed."""
    from bitcli.stages.bench import bench_documents, read_bench_json
    from bitcli.stages.identity import model_digest

    rows = []
    made_at = _mtime(names.bench_json)
    for slot, doc in sorted(bench_documents(read_bench_json(names.bench_json)).items()):
        for entry in doc.get("results") or []:
            if not isinstance(entry, dict):
                continue
            made = entry.get("made_from") or {}
            model = entry.get("model") or "?"
            if model not in ("?", "random") and (names.workdir / Path(str(model)).name).exists():
                model = str(names.workdir / Path(str(model)).name)  # a moved or copied workdir: its own file
            timed = [Path(str(model))] if model not in ("?", "random") else []
            row = ArtifactStatus(f"bench {slot} bs{entry.get('bs')}", names.bench_json, f"{Path(str(model)).name}",
                                 made_at, None, "no record of the model it timed", timed)
            if entry.get("status") != "ok":
                row.current, row.reason = False, f"failed: {entry.get('reason') or 'see bit bench'}"
            elif made.get("model_sha256"):
                same = model == "random" or made["model_sha256"] == model_digest(model)
                row.current, row.reason = (True, None) if same else (False, f"{Path(str(model)).name} changed since it was timed")
            rows.append(row)
    return rows


def _report_rows(names: Artifacts, rows: list[ArtifactStatus]) -> list[ArtifactStatus]:
    records = [r.path for r in rows if r.artifact.startswith(("accuracy", "bench"))]  # what a report summarises
    out = []
    for path in (names.report_json, names.report_md):
        if not path.is_file():
            continue
        newer = [p for p in records if (_mtime_ns(p) or 0) > (_mtime_ns(path) or 0)]
        row = ArtifactStatus("report", path, "bit all", _mtime(path), not newer, inputs=records)
        if newer:
            row.reason = f"{_rel(newer[0], names.workdir)} was rewritten after the report (rerun `bit all`)"
        out.append(row)
    return out


# --------------------------------------------------------------------------- helpers


def _bs_key(path: Path) -> int:
    found = re.search(r"_bs(\d+)", path.name)
    return int(found.group(1)) if found else 0


def _slot_key(path: Path) -> tuple[str, int]:
    return (path.parent.name, _bs_key(path))


def _mtime_ns(path: Path) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None


def _mtime(path: Path) -> str | None:
    ns = _mtime_ns(path)
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rel(path: Path, workdir: Path) -> str:
    try:
        return Path(path).relative_to(workdir).as_posix()
    except ValueError:
        return str(path)
