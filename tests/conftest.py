"""Shared fixtures: paths to the real speech in ../shared/data (skipped cleanly if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiotokens.testing import save_tiny_ssl

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_corpus(name: str) -> Path:
    """Path to ../shared/data/<name>, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real speech not available: {path} is missing")
    return path


@pytest.fixture
def fsdd_root() -> Path:
    return shared_corpus("fsdd")


@pytest.fixture
def librispeech_root() -> Path:
    return shared_corpus("librispeech_test_other_10spk")


@pytest.fixture
def ljspeech_root() -> Path:
    return shared_corpus("ljspeech_32")


@pytest.fixture(scope="module")
def single_thread():
    """Small models on a shared 2-core CPU: OpenMP spin-waiting makes 2 threads far slower.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("single_thread")``."""
    import faiss

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)
    faiss.omp_set_num_threads(faiss_threads)


@pytest.fixture(scope="session")
def hubert_dir(tmp_path_factory) -> Path:
    """A tiny random-init HuBERT (group norm) saved with save_pretrained."""
    return save_tiny_ssl("hubert", tmp_path_factory.mktemp("hubert"), layer_norm=False)


@pytest.fixture(scope="session")
def wavlm_dir(tmp_path_factory) -> Path:
    """A tiny random-init WavLM (layer norm, attention mask) saved with save_pretrained."""
    return save_tiny_ssl("wavlm", tmp_path_factory.mktemp("wavlm"), layer_norm=True)


@pytest.fixture(scope="module")
def synth_root(request, tmp_path_factory) -> Path:
    """A small synthetic espeak-ng corpus (one valid and one test speaker held out). Its size
    is the module's ``SYNTH_SIZE = (minutes, n_speakers)``, default (0.5, 4)."""
    from audiotokens.data import SynthConfig, synthesize_corpus

    minutes, speakers = getattr(request.module, "SYNTH_SIZE", (0.5, 4))
    root = tmp_path_factory.mktemp("synth")
    synthesize_corpus(root, SynthConfig(minutes=minutes, n_speakers=speakers, valid_speakers=1,
                                        test_speakers=1), overwrite=True)
    return root
