"""The token store: a folder of Parquet shards holding one tokenizer's tokens for a corpus.

Layout::

    tokenizer.json        name, info, checksum of the tokenizer, token dtype, created time
    shard-00000-<r>.parquet   columns id (string), n_frames (int32), n_codebooks (int16),
                          tokens (list<int16> or list<int32>, [T, C] flattened row-major),
                          in row groups of ROW_GROUP_ITEMS items (read one group at a time)
    errors.jsonl          items that failed in the latest encode run: id, path, reason
    _done/shard-00000-<r>.json   a shard's success marker, written after its Parquet file
                          by an encode job (:mod:`audiotokens.shards`): counts, failures
                          and timings of that shard (also for a shard whose items all failed)

A *features* store (``"kind": "features"`` in the header; made by :meth:`TokenStore.create_features`
for a continuous source such as log-mel) has the same layout with columns ``n_features``
(int16) and ``features`` (list<halffloat>, [T, F] flattened row-major) instead; the header
then holds ``n_features``, ``frame_rate`` and ``sample_rate`` instead of ``info``. A header
without ``kind`` is a token store (every store written before features existed).

A shard is written to a temp file and renamed, so a shard is either fully there or absent.
Its name is ``shard-NNNNN-<digest of its ids>`` (:func:`shard_name`): the number orders
shards in write order, the digest keeps names of concurrent writers apart. The finished ids
(what makes an encode job resumable) are the ids in committed shards: there is no second
list to drift from the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .tokenizers.base import TokenizerError, TokenizerInfo, Tokens

if TYPE_CHECKING:
    import pyarrow as pa

    from .tokenizers.base import Tokenizer

__all__ = ["StoreError", "StoreCheck", "TokenStore", "TOKENIZER_FILE", "ERRORS_FILE",
           "DONE_DIR", "STORE_KINDS", "ROW_GROUP_ITEMS", "shard_name"]

TOKENIZER_FILE = "tokenizer.json"
ERRORS_FILE = "errors.jsonl"
DONE_DIR = "_done"  # shard success markers (written by encode jobs)
STORE_VERSION = 1
INT16_MAX_VOCAB = 32767
STORE_KINDS = ("tokens", "features")
FEATURE_DTYPE = "float16"
ROW_GROUP_ITEMS = 16  # items per Parquet row group: the unit a lazy reader decodes
_COLUMNS = {"tokens": ("n_codebooks", "tokens"), "features": ("n_features", "features")}


class StoreError(TokenizerError):
    """A token store is missing, broken, or belongs to another tokenizer."""


@dataclass(frozen=True)
class StoreCheck:
    """Result of :meth:`TokenStore.validate`: counts of what was checked."""

    items: int
    shards: int
    frames: int


def shard_name(number: int, ids: Sequence[str]) -> str:
    """``shard-NNNNN-<8 hex>``: shard ``number`` and a digest of its item ``ids`` (the file
    stem: the shard is ``<name>.parquet``, its success marker ``_done/<name>.json``)."""
    if number < 0:
        raise ValueError(f"shard number must be >= 0, got {number}")
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:8]
    return f"shard-{number:05d}-{digest}"


def _token_dtype(info: TokenizerInfo) -> str:
    """'int16' when every vocab fits (<= 32767 ids), else 'int32'."""
    return "int16" if max(info.vocab_sizes) <= INT16_MAX_VOCAB else "int32"


class TokenStore:
    """Read and append tokens of one tokenizer. Open with :meth:`open` or :meth:`create`."""

    def __init__(self, folder: Path, header: dict[str, Any]) -> None:
        self.folder = folder
        self.header = header
        self.kind: str = header.get("kind", "tokens")
        if self.kind == "tokens":
            self.info: TokenizerInfo | None = TokenizerInfo.from_dict(header["info"])
            self.dtype = header["token_dtype"]
            self.width = self.info.n_codebooks
        else:
            self.info, self.dtype = None, header["feature_dtype"]
            self.width = int(header["n_features"])
        self._width_col, self._values_col = _COLUMNS[self.kind]
        self._index: dict[str, tuple[Path, int]] | None = None

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, tokenizer: Tokenizer) -> TokenStore:
        """Open ``folder`` for writing ``tokenizer``'s tokens, creating it if needed.

        An existing store made by a different tokenizer (other checksum) is refused.
        """
        info = tokenizer.info
        if max(info.vocab_sizes) > 2**31 - 1:
            raise StoreError(f"vocab sizes {info.vocab_sizes} do not fit int32 token ids")
        return cls._create(folder, {"tokenizer": tokenizer.name, "info": info.to_dict(),
                                    "checksum": tokenizer.checksum(),
                                    "token_dtype": _token_dtype(info)})

    @classmethod
    def create_features(cls, folder: str | Path, name: str, checksum: str, n_features: int,
                        frame_rate: float, sample_rate: int) -> TokenStore:
        """Open ``folder`` for writing a continuous source's float features [T, n_features]
        (stored as float16), creating it if needed; ``checksum`` identifies the source
        (``FeatureSource.key()``). A store of another source is refused."""
        if n_features < 1 or not frame_rate > 0 or sample_rate < 1:
            raise ValueError(f"n_features, frame_rate and sample_rate must be positive, got "
                             f"{n_features}, {frame_rate}, {sample_rate}")
        return cls._create(folder, {"kind": "features", "tokenizer": name, "checksum": checksum,
                                    "feature_dtype": FEATURE_DTYPE, "n_features": int(n_features),
                                    "frame_rate": float(frame_rate),
                                    "sample_rate": int(sample_rate)})

    @classmethod
    def _create(cls, folder: str | Path, fields: dict[str, Any]) -> TokenStore:
        """Open the store in ``folder`` if its checksum is ``fields["checksum"]``, else make
        a new one with header ``fields`` (+ version and time)."""
        from .tokenizers.persist import atomic_write_bytes

        folder = Path(folder)
        checksum, name = fields["checksum"], fields["tokenizer"]
        if (folder / TOKENIZER_FILE).is_file():
            store = cls.open(folder)
            if store.checksum != checksum:
                raise StoreError(
                    f"{folder}: this store holds tokens of another tokenizer "
                    f"('{store.name}', checksum {store.checksum[:12]}); the given one "
                    f"('{name}') has checksum {checksum[:12]}. "
                    "Use a new --out folder, or delete this one to start over"
                )
            return store
        if folder.is_file():
            raise StoreError(f"{folder}: is a file, expected a token store folder")
        if folder.is_dir() and any(folder.glob("*.parquet")):
            raise StoreError(f"{folder}: has Parquet files but no {TOKENIZER_FILE}")
        header = {"format_version": STORE_VERSION, **fields,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_bytes(folder / TOKENIZER_FILE, (json.dumps(header, indent=2) + "\n").encode())
        return cls(folder, header)

    @classmethod
    def open(cls, folder: str | Path) -> TokenStore:
        """Open an existing store for reading (and appending)."""
        folder = Path(folder)
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise StoreError(f"{folder}: not a token store (no {TOKENIZER_FILE}); "
                             "create one with `audiotokens encode`")
        try:
            header = json.loads(path.read_text())
            kind = header.get("kind", "tokens")
            if kind not in STORE_KINDS:
                raise ValueError(f"kind must be one of {STORE_KINDS}, got {kind!r}")
            needed = (("info", "token_dtype") if kind == "tokens" else
                      ("feature_dtype", "n_features", "frame_rate", "sample_rate"))
            for key in ("tokenizer", "checksum", *needed):
                if key not in header:
                    raise ValueError(f"missing '{key}'")
            if kind == "tokens" and header["token_dtype"] not in ("int16", "int32"):
                raise ValueError(f"token_dtype must be int16 or int32, got {header['token_dtype']}")
            if kind == "features" and header["feature_dtype"] != FEATURE_DTYPE:
                raise ValueError(f"feature_dtype must be {FEATURE_DTYPE}, got "
                                 f"{header['feature_dtype']}")
            if header.get("format_version", 0) > STORE_VERSION:
                raise ValueError(f"format_version {header['format_version']} is too new")
            return cls(folder, header)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise StoreError(f"{path}: unreadable store header ({err})") from None

    @property
    def name(self) -> str:
        """The tokenizer's name."""
        return str(self.header["tokenizer"])

    @property
    def checksum(self) -> str:
        """The tokenizer's checksum (``Tokenizer.checksum()``)."""
        return str(self.header["checksum"])

    @property
    def frame_rate(self) -> float:
        """Frames per second of the stored arrays."""
        return self.info.frame_rate if self.info is not None else float(self.header["frame_rate"])

    @property
    def errors_path(self) -> Path:
        """``errors.jsonl`` in the store folder."""
        return self.folder / ERRORS_FILE

    # -- writing ----------------------------------------------------------------------------
    def write_shard(self, items: list[tuple[str, Tokens | np.ndarray]],
                    name: str | None = None) -> Path:
        """Commit items ``(id, Tokens [T, C])`` (a features store: ``(id, float [T, F])``)
        as one new shard (temp file + rename), in row groups of :data:`ROW_GROUP_ITEMS`.

        Returns the shard path. Without ``name`` the ids must be new to the store and the
        shard takes the next number; with a planned ``name`` (:func:`shard_name`, from
        :func:`audiotokens.shards.plan_shards`, which only plans ids the store lacks) the
        store is not scanned and a shard of that name is replaced (a retried shard). Ids
        out of range (features: not finite in float16) are refused.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .tokenizers.persist import atomic_write_bytes

        if not items:
            raise ValueError("write_shard needs at least one item")
        known = self._lookup() if name is None else {}
        batch_ids: set[str] = set()
        for item_id, _ in items:
            if item_id in known or item_id in batch_ids:
                raise StoreError(f"{self.folder}: id {item_id!r} is already in the store")
            batch_ids.add(item_id)
        rows = [(item_id, self._checked_array(item_id, t)) for item_id, t in items]
        table = self._to_table(rows)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ITEMS)
        if name is None:
            name = shard_name(self.next_shard_number(), [item_id for item_id, _ in items])
        path = self.folder / f"{name}.parquet"
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
        if self._index is not None:
            for row, (item_id, _) in enumerate(items):
                self._index[item_id] = (path, row)
        return path

    def _checked_array(self, item_id: str, value: Tokens | np.ndarray) -> np.ndarray:
        """The item's [T, C] ids or [T, F] features in the store's dtype, checked."""
        arr = value.codes if isinstance(value, Tokens) else np.asarray(value)
        if self.kind == "tokens":
            self._check_tokens(item_id, arr)
            return arr
        if arr.ndim != 2 or arr.shape[1] != self.width:
            raise StoreError(f"{self.folder}: item {item_id!r}: features must be "
                             f"[T, {self.width}], got shape {arr.shape}")
        half = arr.astype(self.dtype)
        if not np.isfinite(half).all():
            raise StoreError(f"{self.folder}: item {item_id!r}: features are not finite in "
                             f"{self.dtype} (|x| > 65504 or NaN)")
        return half

    def _to_table(self, items: list[tuple[str, np.ndarray]]) -> pa.Table:
        import pyarrow as pa

        flat = [np.ascontiguousarray(a).reshape(-1) for _, a in items]
        offsets = np.zeros(len(items) + 1, dtype=np.int32)
        np.cumsum([len(f) for f in flat], out=offsets[1:])
        values = np.concatenate(flat).astype(self.dtype) if flat else np.zeros(0, self.dtype)
        lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
        return pa.table({
            "id": pa.array([i for i, _ in items], pa.string()),
            "n_frames": pa.array([a.shape[0] for _, a in items], pa.int32()),
            self._width_col: pa.array([a.shape[1] for _, a in items], pa.int16()),
            self._values_col: lists,
        })

    def next_shard_number(self) -> int:
        """One past the highest number of a shard or a shard marker (0 for a new store)."""
        names = [p.name for p in self.shards()]
        names += [p.name for p in (self.folder / DONE_DIR).glob("shard-*.json")]
        return max((int(n.split("-")[1]) for n in names), default=-1) + 1

    def remove_temp_files(self) -> int:
        """Delete ``.shard-*.tmp`` files (shards, markers) left by a killed writer; returns
        how many."""
        leftovers = [*self.folder.glob(".shard-*.tmp"),
                     *(self.folder / DONE_DIR).glob(".shard-*.tmp")]
        for path in leftovers:
            os.unlink(path)
        return len(leftovers)

    def append_error(self, item_id: str, path: str, reason: str) -> None:
        """Record one failed item in ``errors.jsonl`` (flushed immediately)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"id": item_id, "path": path, "reason": reason}, ensure_ascii=False)
        with self.errors_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def clear_errors(self) -> None:
        """Forget previous failures (an encode run retries them and records them again)."""
        self.errors_path.unlink(missing_ok=True)

    def errors(self) -> list[dict[str, str]]:
        """The records in ``errors.jsonl`` (``id``, ``path``, ``reason``)."""
        if not self.errors_path.is_file():
            return []
        lines = self.errors_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    # -- reading ----------------------------------------------------------------------------
    def shards(self) -> list[Path]:
        """Committed shard files, in write order."""
        return sorted(self.folder.glob("shard-*.parquet"))

    def ids(self) -> list[str]:
        """Ids of all stored items, in shard order (reads only the ``id`` column)."""
        import pyarrow.parquet as pq

        out: list[str] = []
        for shard in self.shards():
            out.extend(self._read(shard, pq, ["id"]).column("id").to_pylist())
        return out

    def done_ids(self) -> set[str]:
        """The set of finished ids (those in committed shards)."""
        return set(self._lookup())

    def __len__(self) -> int:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(s).metadata.num_rows for s in self.shards())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, Tokens]]:
        """Yield ``(id, Tokens [T, C])`` for every item, shard by shard (token stores)."""
        self._need_tokens()
        for shard in self.shards():
            yield from self._read_items(shard)

    def row_groups(self) -> Iterator[tuple[Path, int, list[str], np.ndarray]]:
        """``(shard, row group, ids, n_frames int [n])`` per row group, reading only the
        ``id`` and ``n_frames`` columns (the index a lazy reader needs)."""
        import pyarrow.parquet as pq

        for shard in self.shards():
            table = self._read(shard, pq, ["id", "n_frames"])
            ids, frames = table.column("id").to_pylist(), table.column("n_frames").to_numpy()
            start = 0
            meta = pq.ParquetFile(shard).metadata
            for group in range(meta.num_row_groups):
                stop = start + meta.row_group(group).num_rows
                yield shard, group, ids[start:stop], frames[start:stop]
                start = stop

    def read_group(self, shard: Path, group: int) -> Iterator[tuple[str, np.ndarray]]:
        """``(id, array)`` of one row group of ``shard``: int64 ids [T, C] of a token store,
        float32 features [T, F] of a features store, checked like :meth:`validate`."""
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(shard).read_row_group(group)
        except Exception as err:  # pyarrow raises ArrowInvalid / OSError variants
            raise StoreError(f"{shard}: unreadable row group {group} "
                             f"({str(err).splitlines()[0]})") from None
        yield from self._table_arrays(table, shard)

    def get(self, item_id: str) -> Tokens:
        """The tokens [T, C] of one item; a missing id raises KeyError naming the store."""
        self._need_tokens()
        entry = self._lookup().get(item_id)
        if entry is None:
            raise KeyError(f"{self.folder}: no item {item_id!r}")
        import pyarrow.parquet as pq

        shard, row = entry
        table = self._read(shard, pq).slice(row, 1)
        for found, tokens in self._table_items(table, shard):
            if found == item_id:
                return tokens
        raise StoreError(f"{shard}: changed while reading (row {row} is not {item_id!r})")

    def validate(self) -> StoreCheck:
        """Read every item and check shapes, codebook count, id ranges and duplicates.

        Raises :class:`StoreError` naming the shard and item at the first problem.
        """
        seen: set[str] = set()
        items = frames = 0
        shards = self.shards()
        import pyarrow.parquet as pq

        for shard in shards:
            for item_id, arr in self._table_arrays(self._read(shard, pq), shard):
                if item_id in seen:
                    raise StoreError(f"{shard}: duplicate id {item_id!r}")
                seen.add(item_id)
                items += 1
                frames += arr.shape[0]
        return StoreCheck(items=items, shards=len(shards), frames=frames)

    # -- internals --------------------------------------------------------------------------
    def _lookup(self) -> dict[str, tuple[Path, int]]:
        import pyarrow.parquet as pq

        if self._index is None:
            index: dict[str, tuple[Path, int]] = {}
            for shard in self.shards():
                for row, item_id in enumerate(self._read(shard, pq, ["id"]).column("id")):
                    index[item_id.as_py()] = (shard, row)
            self._index = index
        return self._index

    @staticmethod
    def _read(shard: Path, pq: Any, columns: list[str] | None = None) -> pa.Table:
        try:
            return pq.read_table(shard, columns=columns)
        except Exception as err:  # pyarrow raises ArrowInvalid / OSError variants
            raise StoreError(f"{shard}: unreadable shard ({str(err).splitlines()[0]})") from None

    def _read_items(self, shard: Path) -> Iterator[tuple[str, Tokens]]:
        import pyarrow.parquet as pq

        yield from self._table_items(self._read(shard, pq), shard)

    def _need_tokens(self) -> None:
        if self.info is None:
            raise StoreError(f"{self.folder}: a {self.kind} store holds no tokens; read it "
                             "with read_group()")

    def _table_items(self, table: pa.Table, shard: Path) -> Iterator[tuple[str, Tokens]]:
        assert self.info is not None
        for item_id, codes in self._table_arrays(table, shard):
            yield item_id, Tokens(codes, self.info)

    def _table_arrays(self, table: pa.Table, shard: Path) -> Iterator[tuple[str, np.ndarray]]:
        width_col, values_col = self._width_col, self._values_col
        missing = {"id", "n_frames", width_col, values_col} - set(table.column_names)
        if missing:
            raise StoreError(f"{shard}: missing column(s) {sorted(missing)}")
        ids = table.column("id").to_pylist()
        n_frames = table.column("n_frames").to_numpy()
        widths = table.column(width_col).to_numpy()
        lists = table.column(values_col).combine_chunks()
        offsets = lists.offsets.to_numpy()
        values = lists.values.to_numpy(zero_copy_only=False)
        what = "ids" if self.kind == "tokens" else "values"
        unit = "codebooks" if self.kind == "tokens" else "features"
        for i, item_id in enumerate(ids):
            flat = values[offsets[i]: offsets[i + 1]]
            t, c = int(n_frames[i]), int(widths[i])
            if c != self.width or len(flat) != t * c:
                raise StoreError(f"{shard}: item {item_id!r} has {len(flat)} {what} for "
                                 f"{t} frames x {c} {unit} (store has {self.width} {unit})")
            if self.kind == "tokens":
                codes = flat.reshape(t, c).astype(np.int64)
                self._check_tokens(item_id, codes, where=shard)
                yield item_id, codes
            else:
                yield item_id, flat.reshape(t, c).astype(np.float32)

    def _check_tokens(self, item_id: str, codes: np.ndarray, where: Path | None = None) -> None:
        assert self.info is not None
        vocab = np.asarray(self.info.vocab_sizes)
        if codes.ndim != 2 or codes.shape[1] != len(vocab):
            raise StoreError(f"{where or self.folder}: item {item_id!r}: tokens must be "
                             f"[T, {len(vocab)}], got shape {codes.shape}")
        bad = (codes < 0) | (codes >= vocab)
        if bad.any():
            frame, book = map(int, np.argwhere(bad)[0])
            raise StoreError(f"{where or self.folder}: item {item_id!r}: id {codes[frame, book]} "
                             f"at frame {frame} is out of range for codebook {book} "
                             f"(vocab {vocab[book]})")

