"""Export a token store as a Hugging Face ``datasets`` dataset, labels joined from a manifest.

Output folder::

    dataset/           ``Dataset.save_to_disk`` (load with ``datasets.load_from_disk``)
    data/SPLIT-00000-of-00001.parquet   the same rows as Parquet, one file set per split
                       (``all`` when the manifest has no splits), the Hub's layout
    tokenizer.json     the store's header: tokenizer name, info, checksum

Columns: ``id``, ``n_frames``, ``tokens`` (list of T frames, each a list of C ids), and with a
manifest ``duration``, ``text``, ``speaker``, ``label``, ``split`` (null where unset). No audio
is decoded or copied.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import TOKENIZER_FILE, StoreError, TokenStore

__all__ = ["ExportSummary", "export_hf", "LABELS"]

LABELS = ("text", "speaker", "label", "split")
DATASET_DIR = "dataset"
PARQUET_DIR = "data"
NO_SPLIT = "all"


@dataclass
class ExportSummary:
    """What :func:`export_hf` wrote: rows per split and the files."""

    out: Path
    rows: int
    splits: dict[str, int]
    parquet_files: list[Path] = field(default_factory=list)
    unmatched_manifest_items: int = 0

    @property
    def dataset_dir(self) -> Path:
        """The ``save_to_disk`` folder."""
        return self.out / DATASET_DIR


def _features(dtype: str, with_labels: bool) -> Any:
    from datasets import Features, List, Value

    cols: dict[str, Any] = {"id": Value("string"), "n_frames": Value("int32"),
                            "tokens": List(List(Value(dtype)))}
    if with_labels:
        cols["duration"] = Value("float64")
        cols.update({name: Value("string") for name in LABELS})
    return Features(cols)


def _labels(manifest: Path, ids: list[str]) -> tuple[dict[str, dict[str, Any]], int]:
    """id -> label columns for the store's ids; and how many manifest items are not stored."""
    from .data.manifest import iter_manifest

    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    extra = 0
    for item in iter_manifest(manifest):
        if item.id in wanted:
            found[item.id] = {"duration": item.duration,
                              **{name: getattr(item, name) for name in LABELS}}
        else:
            extra += 1
    missing = [i for i in ids if i not in found]
    if missing:
        raise StoreError(f"{manifest}: {len(missing)} stored item(s) are not in this manifest "
                         f"(first: {missing[0]!r}); pass the manifest the store was encoded from")
    return found, extra


def _rows(store: TokenStore, labels: dict[str, dict[str, Any]] | None) -> Iterator[dict]:
    for item_id, tokens in store:
        row: dict[str, Any] = {"id": item_id, "n_frames": tokens.n_frames,
                               "tokens": tokens.codes.tolist()}
        if labels is not None:
            row.update(labels[item_id])
        yield row


def export_hf(store_dir: str | Path, out_dir: str | Path, manifest: str | Path | None = None,
              *, rows_per_file: int = 50_000) -> ExportSummary:
    """Write the token store ``store_dir`` to ``out_dir`` as a ``datasets`` dataset and Parquet.

    With ``manifest``, its labels are joined by id; a stored id missing from the manifest
    raises :class:`~audiotokens.store.StoreError`. ``out_dir`` must not hold an export yet.
    Rows stream through a cache on disk, so memory does not grow with the store.
    """
    import datasets
    from datasets import Dataset

    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
    store = TokenStore.open(store_dir)
    out = Path(out_dir)
    if (out / DATASET_DIR).exists() or (out / PARQUET_DIR).exists():
        raise FileExistsError(f"{out}: already holds an export; choose a new --out folder")
    ids = store.ids()
    if not ids:
        raise StoreError(f"{store.folder}: the store is empty; nothing to export")
    labels, extra = _labels(Path(manifest), ids) if manifest is not None else (None, 0)
    cache = out / ".cache"
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # datasets' per-step bars; restored below
    try:
        ds = Dataset.from_generator(_rows, features=_features(store.dtype, labels is not None),
                                    cache_dir=str(cache), gen_kwargs={"store": store,
                                                                      "labels": labels})
        ds.save_to_disk(str(out / DATASET_DIR))
        splits, files = _write_parquet(ds, out / PARQUET_DIR, labels is not None,
                                       rows_per_file)
        del ds
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if not quiet:
            datasets.enable_progress_bars()
    shutil.copyfile(store.folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    return ExportSummary(out=out, rows=len(ids), splits=splits, parquet_files=files,
                         unmatched_manifest_items=extra)


def _write_parquet(ds: Any, folder: Path, with_labels: bool,
                   rows_per_file: int) -> tuple[dict[str, int], list[Path]]:
    """Parquet files per split (``all`` for rows without one); returns counts and paths."""
    folder.mkdir(parents=True, exist_ok=True)
    column = ds["split"] if with_labels else [None] * len(ds)
    names = [s or NO_SPLIT for s in column]
    counts: dict[str, int] = {}
    files: list[Path] = []
    for split in dict.fromkeys(names):
        rows = [i for i, s in enumerate(names) if s == split]
        part = ds.select(rows)
        n_files = -(-len(rows) // rows_per_file)
        for k in range(n_files):
            path = folder / f"{split}-{k:05d}-of-{n_files:05d}.parquet"
            part.shard(n_files, k, contiguous=True).to_parquet(str(path))
            files.append(path)
        counts[split] = len(rows)
    return counts, files
