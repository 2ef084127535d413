"""Files of ``audiotokens analyze``: ``analysis.json``, CSV tables and the map plots.

- ``analysis.json``: the whole :class:`~.analyze.Analysis` (NaN written as null);
- ``codebooks.csv``: one row per codebook: usage, entropy, perplexity, purities, PNMI;
- ``token_phones.csv``: per used token its top phones with ``p(phone | token)``;
- ``phone_tokens.csv``: per phone the tokens that stand for it (see :mod:`.tokenmap`);
- ``token_phone_map_<codebook>.png``: ``p(phone | token)`` heat map per codebook.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..tokenizers.persist import atomic_write_bytes
from .analyze import Analysis, CodebookAnalysis

__all__ = ["AnalysisFiles", "analysis_dict", "write_analysis"]

JSON_FILE = "analysis.json"
SCORE_FIELDS = ("pnmi", "phone_purity", "cluster_purity", "n_frames", "n_tokens_used",
                "phone_entropy_bits", "mutual_information_bits")
USAGE_FIELDS = ("vocab_size", "n_frames", "n_used", "usage", "entropy_bits", "perplexity",
                "normalized_entropy")


@dataclass(frozen=True)
class AnalysisFiles:
    """Paths written by :func:`write_analysis`."""

    json: Path
    codebooks_csv: Path
    token_phones_csv: Path | None
    phone_tokens_csv: Path | None
    plots: tuple[Path, ...]


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _codebook_dict(cb: CodebookAnalysis) -> dict[str, Any]:
    out: dict[str, Any] = {"name": cb.name, "codebook": cb.usage.codebook}
    out.update({k: _finite(getattr(cb.usage, k)) for k in USAGE_FIELDS})
    out["phones"] = None if cb.phones is None else {
        **{k: _finite(getattr(cb.phones, k)) for k in SCORE_FIELDS},
        "pnmi_shuffled": _finite(cb.pnmi_shuffled)}
    if cb.token_map is not None:
        out["token_map"] = {
            "tokens": [{"token": t.token, "count": t.count, "phones": [list(p) for p in t.phones]}
                       for t in cb.token_map.tokens],
            "phones": [{"phone": p.phone, "count": p.count, "coverage": p.coverage,
                        "tokens": [list(t) for t in p.tokens]} for p in cb.token_map.phones],
        }
    return out


def analysis_dict(a: Analysis) -> dict[str, Any]:
    """The analysis as plain JSON-able data (the content of ``analysis.json``)."""
    leakage = None if a.leakage is None else {k: _finite(v) for k, v in asdict(a.leakage).items()}
    return {
        "store": a.store,
        "manifest": a.manifest,
        "tokenizer": a.info.name,
        "frame_rate": a.info.frame_rate,
        "vocab_sizes": list(a.info.vocab_sizes),
        "items": {"analysed": a.n_items, "frames": a.n_frames, "aligned": a.n_aligned,
                  "unaligned": a.n_unaligned, "with_speaker": a.n_with_speaker,
                  "not_in_manifest": a.n_not_in_manifest, "not_in_store": a.n_not_in_store},
        "phone_inventory": None if a.inventory is None else list(a.inventory.phones),
        "phone_message": a.phone_message,
        "codebooks": [_codebook_dict(cb) for cb in a.codebooks],
        "speaker_leakage": leakage,
        "speaker_leakage_message": a.leakage_message,
    }


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _codebook_row(cb: CodebookAnalysis) -> dict[str, Any]:
    row: dict[str, Any] = {"codebook": cb.usage.codebook, "name": cb.name}
    row.update({k: getattr(cb.usage, k) for k in USAGE_FIELDS})
    row.update({k: "" if cb.phones is None else getattr(cb.phones, k) for k in SCORE_FIELDS})
    row["pnmi_shuffled"] = "" if cb.pnmi_shuffled is None else cb.pnmi_shuffled
    return row


def write_analysis(a: Analysis, out: str | Path) -> AnalysisFiles:
    """Write the files listed in the module docstring into folder ``out``."""
    from ..bench.cells import safe_name
    from .plot import token_phone_png

    out = Path(out)
    json_path = out / JSON_FILE
    atomic_write_bytes(json_path, (json.dumps(analysis_dict(a), indent=1, ensure_ascii=False)
                                   + "\n").encode("utf-8"))
    rows = [_codebook_row(cb) for cb in a.codebooks]
    atomic_write_bytes(out / "codebooks.csv", _csv(rows, list(rows[0])))
    maps = [cb.token_map for cb in a.codebooks if cb.token_map is not None]
    token_csv = phone_csv = None
    plots: list[Path] = []
    if maps:
        token_csv, phone_csv = out / "token_phones.csv", out / "phone_tokens.csv"
        atomic_write_bytes(token_csv, _csv([r for m in maps for r in m.token_rows()],
                                           ["codebook", "token", "count", "rank", "phone",
                                            "prob"]))
        atomic_write_bytes(phone_csv, _csv([r for m in maps for r in m.phone_rows()],
                                           ["codebook", "phone", "phone_frames", "token",
                                            "p_phone_given_token", "p_token_given_phone"]))
        assert a.inventory is not None
        for cb in a.codebooks:
            if cb.phones is None:
                continue
            path = out / f"token_phone_map_{safe_name(cb.name)}.png"
            atomic_write_bytes(path, token_phone_png(cb.phones, a.inventory,
                                                     f"{a.info.name} {cb.name}"))
            plots.append(path)
    return AnalysisFiles(json_path, out / "codebooks.csv", token_csv, phone_csv, tuple(plots))

