"""Every documented `audiotokens fit` flag, for every registry entry: it works (and lands in
the saved config or the fit) or it is refused with one line naming the valid options.
Also: `--minutes` means minutes of audio for k-means and minutes of training for rvq."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiotokens.cli import main
from audiotokens.cli.tokens import parse_options
from audiotokens.testing import save_tiny_codec, save_tiny_ssl, write_test_corpus
from audiotokens.tokenizers import rvq as rvq_module
from audiotokens.tokenizers.registry import REGISTRY, load_tokenizer
from audiotokens.tokenizers.rvq import RVQConfig, RVQTokenizer
from audiotokens.tokenizers.semantic import SemanticConfig, SemanticTokenizer

pytestmark = pytest.mark.usefixtures("single_thread")

# the documented flags with a value each; "--device" and "-o" apply to every tokenizer
FLAGS = {"--k": "8", "--layers": "1,3", "--model": None, "--bitrate": "high",
         "--codebooks": "2", "--minutes": "0.005", "--seed": "3"}
SEMANTIC_SSL = {"--k", "--layers", "--model", "--minutes", "--seed"}
HF_CODEC = {"--model", "--bitrate", "--codebooks"}
# registry name -> the flags it takes; every other documented flag must be refused
ACCEPTED = {
    "mel-kmeans": {"--k", "--layers", "--minutes", "--seed"},  # layers: only 0
    "mfcc-kmeans": {"--k", "--layers", "--minutes", "--seed"},
    "hubert": SEMANTIC_SSL, "wavlm": SEMANTIC_SSL, "wav2vec2": SEMANTIC_SSL,
    "data2vec": SEMANTIC_SSL, "ssl-kmeans": SEMANTIC_SSL,  # its --model overrides "shipped"
    "encodec": HF_CODEC, "dac": HF_CODEC, "mimi": HF_CODEC,
    "codec2": set(), "mulaw": set(),
    "rvq": {"--bitrate", "--codebooks", "--minutes", "--seed"},
}
TINY_RVQ = ["-o", "channels=4", "-o", "ratios=[2,4,5]", "-o", "latent_dim=16",
            "-o", "codebook_size=32", "-o", "spectral_dim=16", "-o", "stft_hop=20",
            "-o", "batch_size=2", "-o", "segment_seconds=0.2", "-o", "max_steps=3",
            "-o", "progress=false"]
# what each accepted flag must change in the saved config (None: a fit option, see below)
CONFIG_KEY = {"--k": "k", "--layers": "layers", "--bitrate": "bitrate",
              "--codebooks": "n_codebooks", "--seed": "seed", "--minutes": None,
              "--model": "model"}


def test_the_table_covers_the_registry() -> None:
    assert sorted(ACCEPTED) == REGISTRY.names()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {k: save_tiny_ssl(k, root / k, layer_norm=k != "hubert")
           for k in ("hubert", "wavlm", "wav2vec2", "data2vec")}
    out.update({k: save_tiny_codec(k, root / k) for k in ("encodec", "dac", "mimi")})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_test_corpus(tmp_path_factory.mktemp("corpus"), 6, max_seconds=1.0)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _value(flag: str, name: str, models: dict[str, Path]) -> str:
    if flag == "--model":
        return str(models.get("hubert" if name == "ssl-kmeans" else name,
                              "facebook/hubert-base-ls960"))
    if flag == "--layers" and name in ("mel-kmeans", "mfcc-kmeans"):
        return "0"
    return FLAGS[flag]  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_every_documented_fit_flag_works_or_is_refused(name, models, corpus, tmp_path,
                                                       capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    base = ["fit", name, "-m", str(corpus), "--device", "cpu"]
    extra = TINY_RVQ if name == "rvq" else []
    accepted = ACCEPTED[name]
    if "--model" in accepted:
        base += ["--model", _value("--model", name, models)]
    for flag in sorted(set(FLAGS) - accepted):
        code, _, err = run(capsys, *base, "--out", tmp_path / flag.strip("-"), flag,
                           _value(flag, name, models), *extra)
        assert code == 2, (flag, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (flag, err)
        assert "Traceback" not in err
        if flag != "--model":  # mel/mfcc do have a model field, refused by its check
            assert f"({flag}) is not known to tokenizer '{name}'" in err
            assert "config options: " in err and "fit options: " in err
        assert not (tmp_path / flag.strip("-")).exists()

    argv = [*base, "--out", tmp_path / "ok"]
    for flag in sorted(accepted - {"--model"}):
        argv += [flag, _value(flag, name, models)]
    if name == "codec2":
        argv += ["-o", "mode=1600"]
    code, out, err = run(capsys, *argv, *extra)
    assert code == 0, out + err
    config = json.loads((tmp_path / "ok" / "config.json").read_text())["config"]
    for flag in accepted:
        key = None if (name, flag) == ("rvq", "--seed") else CONFIG_KEY[flag]  # fit's seed
        if key is not None:
            want = parse_options([f"v={_value(flag, name, models)}"])["v"]
            want = [want] if flag == "--layers" and isinstance(want, int) else want
            assert config[key] == want, (flag, config)
    if name == "codec2":
        assert config["mode"] == "1600"
    tok = load_tokenizer(tmp_path / "ok")
    assert tok.info.fitted
    if name == "rvq":  # --minutes 0.005 and max_steps=3: whichever comes first
        assert 1 <= tok.trained_steps <= 3


def test_semantic_minutes_caps_the_audio_read(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path / "c", 8, min_seconds=1.0, max_seconds=1.0)
    tok = SemanticTokenizer(SemanticConfig(k=4), name="mel-kmeans")
    tok.fit(manifest)
    assert tok.last_fit is not None and tok.last_fit.items == 8
    tok.fit(manifest, minutes=2.5 / 60)  # 2.5 s of 1 s items: stops after the third
    assert tok.last_fit.items == 3 and tok.last_fit.audio_seconds == pytest.approx(3.0)
    with pytest.raises(Exception, match="minutes must be > 0"):
        tok.fit(manifest, minutes=0)


TINY = dict(channels=4, ratios=(2, 4, 5), latent_dim=16, n_codebooks=2, codebook_size=32,
            spectral_dim=16, spectral_blocks=1, stft_hop=20)
FIT = dict(batch_size=2, segment_seconds=0.1, progress=False, log_every=1)


@pytest.fixture(scope="module")
def rvq_manifest(tmp_path_factory) -> Path:
    return write_test_corpus(tmp_path_factory.mktemp("rvq"), 2, max_seconds=0.5)


def test_rvq_minutes_alone_has_no_step_cap(rvq_manifest, monkeypatch) -> None:
    # a default cap of 2 steps would end the run within milliseconds; minutes alone must
    # train for the whole 1.2 s (a tiny step takes a few ms, so far more than 2 steps)
    monkeypatch.setattr(rvq_module, "DEFAULT_MAX_STEPS", 2)
    tok = RVQTokenizer(RVQConfig(**TINY))
    summary = tok.fit(rvq_manifest, minutes=0.02, **FIT)
    assert summary.seconds >= 0.02 * 60
    assert summary.steps > 2
    assert tok.fit(rvq_manifest, **FIT).steps == 2  # neither budget: the default cap
    both = RVQTokenizer(RVQConfig(**TINY)).fit(rvq_manifest, minutes=0.02, max_steps=1, **FIT)
    assert both.steps == 1 and both.seconds < 0.02 * 60  # both: whichever comes first


def test_cli_fit_rvq_minutes_trains_past_the_default_cap(rvq_manifest, tmp_path, capsys,
                                                         monkeypatch) -> None:
    monkeypatch.setattr(rvq_module, "DEFAULT_MAX_STEPS", 2)
    opts = [x for kv in [f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
                         for k, v in TINY.items()] for x in ("-o", kv)]
    code, out, err = run(capsys, "fit", "rvq", "-m", rvq_manifest, "--out", tmp_path / "r",
                         "--minutes", "0.01", *opts, "-o", "batch_size=2",
                         "-o", "segment_seconds=0.1", "-o", "progress=false")
    assert code == 0, out + err
    assert load_tokenizer(tmp_path / "r").trained_steps > 2
