"""Long files: chunked streaming encode == whole-file encode away from chunk edges."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiotokens.audio import AudioError, load_audio, save_audio
from audiotokens.data.manifest import ManifestItem, read_manifest, write_manifest
from audiotokens.encode import encode_manifest
from audiotokens.longform import ChunkConfig, encode_chunked, encode_file, hop_samples
from audiotokens.store import TokenStore
from audiotokens.testing import noisy_speechlike, write_test_corpus
from audiotokens.tokenizers.base import TokenizerInfo
from audiotokens.tokenizers.registry import load_tokenizer

pytestmark = pytest.mark.usefixtures("single_thread")

SIGNAL = np.concatenate([noisy_speechlike(3.0, seed=i) for i in range(4)])  # 12 s at 16 kHz


@pytest.fixture(scope="module")
def mel(tmp_path_factory):
    """mel-kmeans with k=64 fitted on a few test signals (fine enough that edges show)."""
    tok = load_tokenizer("mel-kmeans", k=64)
    tok.fit(write_test_corpus(tmp_path_factory.mktemp("fit"), 4))
    return tok


def blocks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i: i + size] for i in range(0, len(x), size)]


@pytest.mark.parametrize("block", [1000, 7777, 16000 * 5])
def test_chunked_equals_whole_with_overlap(mel, block) -> None:
    whole = mel.encode(SIGNAL, 16000).codes
    chunked = encode_chunked(mel, blocks(SIGNAL, block), ChunkConfig(1.0, 0.1)).codes
    assert np.array_equal(chunked, whole)
    mulaw = load_tokenizer("mulaw")
    assert np.array_equal(encode_chunked(mulaw, blocks(SIGNAL, block), ChunkConfig(0.3, 0.0)
                                         ).codes, mulaw.encode(SIGNAL, 16000).codes)


def test_without_overlap_only_chunk_edges_differ(mel) -> None:
    whole = mel.encode(SIGNAL, 16000).codes
    chunked = encode_chunked(mel, blocks(SIGNAL, 7777), ChunkConfig(1.0, 0.0)).codes
    assert chunked.shape == whole.shape
    differ = np.flatnonzero((chunked != whole).any(axis=1))
    assert len(differ)  # the STFT window reaches across edges: the overlap is what fixes it
    edge_distance = np.minimum(differ % 50, 50 - differ % 50)
    assert (edge_distance <= 1).all()  # every difference sits at a chunk edge (frame 50k)


def test_encode_file_streams_like_load_audio(tmp_path, mel) -> None:
    path = save_audio(tmp_path / "long.wav", SIGNAL, 16000)
    whole = mel.encode(load_audio(path, 16000).samples, 16000).codes
    assert np.array_equal(encode_file(mel, path, ChunkConfig(2.0, 0.1), max_seconds=60).codes,
                          whole)
    loud = tmp_path / "loud.wav"  # float file over 1.0: scaled down by the file's peak
    sf.write(loud, np.stack([SIGNAL * 3, SIGNAL], 1), 16000, subtype="FLOAT")
    mulaw = load_tokenizer("mulaw")
    assert np.array_equal(encode_file(mulaw, loud, ChunkConfig(2.0), max_seconds=60).codes,
                          mulaw.encode(load_audio(loud, 16000).samples, 16000).codes)
    resampled = save_audio(tmp_path / "22k.wav", load_audio(path, 22050).samples, 22050)
    stream = encode_file(mel, resampled, ChunkConfig(2.0, 0.1), max_seconds=60).codes
    batch = mel.encode(load_audio(resampled, 16000).samples, 16000).codes
    assert np.array_equal(stream, batch)  # soxr's stream resamples like its one-shot call
    with pytest.raises(AudioError, match=r"too long: 12 s > max 5 s"):
        encode_file(mel, path, max_seconds=5)


def test_hop_must_be_whole() -> None:
    assert hop_samples(TokenizerInfo("x", "codec", 24000, 75.0, (4,))) == 320
    with pytest.raises(ValueError, match="333.333 samples per frame"):
        hop_samples(TokenizerInfo("x", "codec", 16000, 48.0, (4,)))


def test_encode_manifest_chunks_long_items(tmp_path, mel) -> None:
    manifest = write_test_corpus(tmp_path / "corpus", 3)
    items = read_manifest(manifest)
    long = save_audio(tmp_path / "corpus" / "wavs" / "long.wav", SIGNAL, 16000)
    items += [ManifestItem("long", str(long), 12.0), ManifestItem("too-long", str(long), 12.0)]
    write_manifest(items, manifest)
    chunking = ChunkConfig(chunk_seconds=2.5, overlap_seconds=0.1)
    summary = encode_manifest(mel, manifest, tmp_path / "store", chunking=chunking,
                              progress=False, max_seconds=100)
    assert summary.encoded == 5 and not summary.failed
    store = TokenStore.open(tmp_path / "store")
    whole = mel.encode(load_audio(long, 16000).samples, 16000).codes
    assert np.array_equal(store.get("long").codes, whole)
    for it in items[:3]:  # short items: encoded whole, as before
        want = mel.encode(load_audio(it.path, 16000).samples, 16000).codes
        assert np.array_equal(store.get(it.id).codes, want)
    again = encode_manifest(mel, manifest, tmp_path / "store2", chunking=chunking,
                            progress=False, max_seconds=10)
    assert [i for i, _ in again.failed] == ["long", "too-long"]
    assert "too long: 12 s > max 10 s" in again.failed[0][1]


def test_encode_cli_chunk_and_limit_flags(tmp_path, capsys, monkeypatch) -> None:
    from audiotokens.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # the failure table is not wrapped
    wav = save_audio(tmp_path / "a.wav", SIGNAL[: 3 * 16000], 16000)
    manifest = write_manifest([ManifestItem("a", str(wav), 3.0)], tmp_path / "m.jsonl")
    argv = ["encode", "mulaw", "-m", str(manifest), "--no-progress", "--chunk-seconds", "0.7",
            "--overlap-seconds", "0"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "s1"), "--max-seconds", "2"])
    assert exc.value.code in (0, None) and "too long: 3 s > max 2 s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "s2")])
    assert exc.value.code in (0, None)
    mulaw = load_tokenizer("mulaw")
    want = mulaw.encode(load_audio(wav, 16000).samples, 16000).codes
    assert np.array_equal(TokenStore.open(tmp_path / "s2").get("a").codes, want)


def test_bad_files_fail_like_load_audio(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path, 0, bad=("empty", "truncated", "text", "missing"))
    mulaw = load_tokenizer("mulaw")
    for item in read_manifest(manifest):
        with pytest.raises(AudioError) as whole:
            load_audio(item.path, 16000)
        with pytest.raises(AudioError) as streamed:
            encode_file(mulaw, item.path, max_seconds=60)
        assert str(streamed.value) == str(whole.value)
