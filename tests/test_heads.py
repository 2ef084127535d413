"""Downstream heads: shapes, masking, combine weights, CTC decoding, init from vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotokens.bench.heads import (
    CORE_KINDS,
    ContinuousInput,
    CTCHead,
    DownstreamModel,
    HeadOutput,
    PooledClassifier,
    TokenEmbedding,
    pool_time,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _ids(b: int = 3, t: int = 20, vocab=(16, 8, 4)) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.stack([torch.randint(0, v, (b, t), generator=g) for v in vocab], dim=-1)


@pytest.mark.parametrize("combine", ["softmax", "attention"])
def test_token_embedding_shapes_and_weights_sum_to_one(combine: str) -> None:
    emb = TokenEmbedding((16, 8, 4), dim=12, combine=combine)
    lengths = torch.tensor([20, 11, 1])
    x, out_lengths = emb(_ids(), lengths)
    assert x.shape == (3, 20, 12) and out_lengths.tolist() == [20, 11, 1]
    if combine == "attention":
        with pytest.raises(RuntimeError, match="eval"):
            emb.weights()
        emb.eval()
        emb(_ids(), lengths)
    w = emb.weights()
    assert len(w) == 3 and all(0 < v < 1 for v in w)
    assert sum(w) == pytest.approx(1.0, abs=1e-6)


def test_softmax_weights_are_learned() -> None:
    """Only codebook 1 carries the target: training moves its weight above the others."""
    torch.manual_seed(0)
    emb = TokenEmbedding((8, 8), dim=8)
    head = torch.nn.Linear(8, 8)
    opt = torch.optim.Adam([*emb.parameters(), *head.parameters()], lr=0.05)
    for _ in range(150):
        ids = torch.randint(0, 8, (16, 10, 2))
        x, _ = emb(ids, torch.full((16,), 10))
        loss = torch.nn.functional.cross_entropy(head(x).reshape(-1, 8), ids[..., 1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = emb.weights()
    assert w[1] > 0.6 > w[0]


def test_attention_mean_weight_ignores_padding_and_resets() -> None:
    emb = TokenEmbedding((5, 5), dim=4, combine="attention").eval()
    ids = _ids(2, 6, (5, 5))
    emb(ids, torch.tensor([6, 2]))
    assert float(emb.weight_count) == 8.0  # 6 + 2 valid frames, padding not counted
    emb.reset_weight_stats()
    assert float(emb.weight_count) == 0.0


def test_init_vectors_project_centroids_and_check_rows() -> None:
    centroids = torch.randn(16, 80)
    emb = TokenEmbedding((16, 4), dim=8, init_vectors=[centroids, None])
    table = emb.table(0).detach()
    assert table.shape == (16, 8)
    # PCA keeps the centroids' geometry: the projected distances correlate with the originals
    d_in = torch.cdist(centroids, centroids).flatten()
    d_out = torch.cdist(table, table).flatten()
    assert torch.corrcoef(torch.stack([d_in, d_out]))[0, 1] > 0.5
    with pytest.raises(ValueError, match="rows"):
        TokenEmbedding((16,), dim=8, init_vectors=[torch.randn(10, 8)])
    with pytest.raises(ValueError, match="softmax"):
        TokenEmbedding((16,), combine="mean")


def test_pool_time_excludes_padding() -> None:
    x = torch.arange(8, dtype=torch.float32).reshape(1, 8, 1).repeat(2, 1, 1)
    pooled, lengths = pool_time(x, torch.tensor([8, 3]), 4)
    assert pooled.shape == (2, 2, 1) and lengths.tolist() == [2, 1]
    assert pooled[0, :, 0].tolist() == [1.5, 5.5]
    assert pooled[1, 0, 0].item() == pytest.approx(1.0)  # mean of frames 0..2 only


def test_token_embedding_stride_equals_embed_then_pool() -> None:
    torch.manual_seed(0)
    emb = TokenEmbedding((16, 8), dim=6, stride=4)
    ids, lengths = _ids(2, 10, (16, 8)), torch.tensor([10, 5])
    ids[1, 5:] = 3  # padding content must not matter
    x, out_lengths = emb(ids, lengths)
    full = torch.stack([emb.table(c)[ids[..., c]] for c in range(2)], 2)
    full = (full * torch.softmax(emb.logits, 0)[:, None]).sum(2)
    expected, expected_lengths = pool_time(full, lengths, 4)
    assert x.shape == (2, 3, 6) and out_lengths.tolist() == expected_lengths.tolist() == [3, 2]
    torch.testing.assert_close(x, expected)


def test_continuous_input_and_stride() -> None:
    inp = ContinuousInput(80, dim=16, stride=2)
    x, lengths = inp(torch.randn(2, 9, 80), torch.tensor([9, 4]))
    assert x.shape == (2, 5, 16) and lengths.tolist() == [5, 2]


def test_pooled_classifier_shapes_and_padding_invariance() -> None:
    torch.manual_seed(0)
    head = PooledClassifier(12, n_classes=5, embed_dim=32).eval()
    x = torch.randn(2, 15, 12)
    out = head(x, torch.tensor([15, 7]))
    assert out.logits.shape == (2, 5) and out.embedding.shape == (2, 32)
    # what lies beyond an item's length (here noise vs zeros) does not change its output
    x2 = x.clone()
    x2[1, 7:] = 0.0
    out2 = head(x2, torch.tensor([15, 7]))
    torch.testing.assert_close(out.logits[1], out2.logits[1])
    with pytest.raises(ValueError, match="2 classes"):
        PooledClassifier(12, n_classes=1)


@pytest.mark.parametrize("core", CORE_KINDS)
def test_ctc_head_loss_decode_and_learning(core: str) -> None:
    torch.manual_seed(0)
    head = CTCHead(6, n_symbols=4, hidden=16, layers=1, core=core)
    x = torch.randn(2, 12, 6)
    out = head(x, torch.tensor([12, 8]))
    assert out.logits.shape == (2, 12, 4)
    torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(2, 12))
    targets, target_lengths = torch.tensor([1, 2, 3, 2, 1]), torch.tensor([3, 2])
    opt = torch.optim.Adam(head.parameters(), lr=0.02)
    first = float(CTCHead.loss(out, targets, target_lengths).detach())
    for _ in range(150):
        loss = CTCHead.loss(head(x, torch.tensor([12, 8])), targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first / 4
    assert CTCHead.greedy_decode(head(x, torch.tensor([12, 8]))) == [[1, 2, 3], [2, 1]]


@pytest.mark.parametrize("core", CORE_KINDS)
@pytest.mark.parametrize("stack", [2, 3])
def test_stacked_ctc_head_keeps_frame_rate_and_ignores_padding(stack: int, core: str) -> None:
    torch.manual_seed(0)
    head = CTCHead(6, n_symbols=5, hidden=8, layers=1, stack=stack, core=core).eval()
    x, lengths = torch.randn(2, 13, 6), torch.tensor([13, 7])
    out = head(x, lengths)
    assert out.logits.shape == (2, 13, 5) and out.lengths.tolist() == [13, 7]
    torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(2, 13))
    # frames past an item's length (noise vs zeros) change none of its valid outputs
    x2 = x.clone()
    x2[1, 7:] = 0.0
    torch.testing.assert_close(head(x2, lengths).logits[1, :7], out.logits[1, :7])
    # the core runs over ceil(T / stack) steps of stacked frames
    first = head.core.proj if core == "conv" else head.core.forward_lstms[0]
    assert (first.in_features if core == "conv" else first.input_size) == 6 * stack
    # a padded item's outputs are those of the item alone
    alone = head(x[1:, :7], lengths[1:])
    torch.testing.assert_close(alone.logits[0], out.logits[1, :7])


def test_stacked_ctc_head_learns_and_decodes() -> None:
    torch.manual_seed(0)
    head = CTCHead(6, n_symbols=4, hidden=16, layers=1, stack=2, blank_bias=3.0)
    x, lengths = torch.randn(2, 12, 6), torch.tensor([12, 8])
    targets, target_lengths = torch.tensor([1, 2, 3, 2, 1]), torch.tensor([3, 2])
    opt = torch.optim.Adam(head.parameters(), lr=0.02)
    for _ in range(150):
        loss = CTCHead.loss(head(x, lengths), targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert CTCHead.greedy_decode(head(x, lengths)) == [[1, 2, 3], [2, 1]]


def test_ctc_head_blank_bias_dropout_and_validation() -> None:
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 10, 6), torch.tensor([10, 4])
    biased = CTCHead(6, n_symbols=4, hidden=8, layers=1, stack=2, blank_bias=6.0).eval()
    assert (biased(x, lengths).logits.argmax(-1) == 0).all()  # starts out all blank
    plain = CTCHead(6, n_symbols=4, hidden=8, layers=1, stack=2).eval()
    assert not (plain(x, lengths).logits.argmax(-1) == 0).all()
    drop = CTCHead(6, n_symbols=4, hidden=8, layers=1, dropout=0.5)
    assert not torch.equal(drop.train()(x, lengths).logits, drop(x, lengths).logits)
    torch.testing.assert_close(drop.eval()(x, lengths).logits, drop(x, lengths).logits)
    with pytest.raises(ValueError, match="stack"):
        CTCHead(6, n_symbols=4, stack=0)
    with pytest.raises(ValueError, match="dropout"):
        CTCHead(6, n_symbols=4, dropout=1.0)


def test_greedy_decode_collapses_repeats_and_blanks() -> None:
    path = torch.tensor([[0, 1, 1, 0, 1, 2, 2, 0]])
    logits = torch.nn.functional.one_hot(path, 3).float().log_softmax(-1)
    decoded = CTCHead.greedy_decode(HeadOutput(logits, torch.tensor([7])))
    assert decoded == [[1, 1, 2]]


def test_downstream_model_reports_codebook_weights() -> None:
    model = DownstreamModel(TokenEmbedding((16, 8, 4), dim=12), PooledClassifier(12, 3))
    out = model(_ids(), torch.tensor([20, 5, 3]))
    assert out.logits.shape == (3, 3)
    assert len(model.codebook_weights()) == 3
    baseline = DownstreamModel(ContinuousInput(10, 12), PooledClassifier(12, 3))
    assert baseline.codebook_weights() is None


def test_heads_start_from_codebook_vectors_only_when_asked(tmp_path) -> None:
    """Mel k-means centroids (and rvq codebooks) are the tokenizer's codebook vectors;
    build_model copies them (projected to dim) into the tables with init_embeddings."""
    from audiotokens import load_tokenizer
    from audiotokens.bench.features import TokenizerSource
    from audiotokens.bench.heads import _fit_vectors
    from audiotokens.bench.tasks import make_task
    from audiotokens.bench.tasks.loop import TrainConfig, build_model
    from audiotokens.data import ManifestItem
    from audiotokens.testing import write_test_corpus
    from audiotokens.tokenizers.rvq import RVQConfig, RVQTokenizer

    tok = load_tokenizer("mel-kmeans", k=6)
    assert tok.codebook_vectors() is None  # not fitted
    tok.fit(write_test_corpus(tmp_path / "c", 2))
    (centroids,) = tok.codebook_vectors()
    assert centroids.shape == (6, 80) and centroids.dtype == np.float32
    rvq = RVQTokenizer(RVQConfig(channels=4, ratios=(2, 4, 5), latent_dim=16, n_codebooks=3,
                                 codebook_size=8, spectral_dim=16, stft_hop=20,
                                 n_codebooks_used=2))
    assert rvq.codebook_vectors() is None  # untrained
    rvq.trained_steps = 1
    books = rvq.codebook_vectors()
    assert [b.shape for b in books] == [(8, 16), (8, 16)]
    assert np.array_equal(books[1], rvq.model.quantizer.layers[1].embed.numpy())

    task = make_task("emotion")
    data = task.prepare([ManifestItem(f"s{s}-{i}", "x.wav", 1.0, speaker=f"s{s}",
                                      label=str(i % 2)) for s in range(6) for i in range(2)])
    spec = TokenizerSource(tok).spec
    cfg = TrainConfig(dim=8)
    torch.manual_seed(0)
    plain = build_model(task, spec, data, cfg)
    seeded = build_model(task, spec, data, cfg, [centroids])
    want = _fit_vectors(torch.from_numpy(centroids), 8)
    assert torch.allclose(seeded.inputs.table(0), want)
    assert not torch.allclose(plain.inputs.table(0), want)
