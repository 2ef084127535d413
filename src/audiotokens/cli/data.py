"""``audiotokens data ...``: make manifests from corpora and folders, or synthesize a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .parsing import comma_numbers

if TYPE_CHECKING:
    from ..data.manifest import ManifestItem

__all__ = ["register"]

data_app = typer.Typer(
    name="data",
    help="Build manifests (JSONL: id, path, duration, text, speaker, label, split) from a "
         "corpus or any folder of audio, or synthesize a small speech corpus offline.",
    no_args_is_help=True,
)

_OUT_HELP = "Manifest file to write (JSONL); audio paths inside it are relative to its folder."


def _relative(items: list[ManifestItem], base: Path) -> list[ManifestItem]:
    """Paths relative to ``base`` where possible, so a corpus and its manifest move together."""
    import os
    from dataclasses import replace

    def rel(path: str | None) -> str | None:
        if path is None:
            return None
        try:
            return os.path.relpath(path, base)
        except ValueError:  # different drive (Windows)
            return path

    return [replace(it, path=rel(it.path), clean_path=rel(it.clean_path)) for it in items]


def _write(items: list[ManifestItem], out: Path) -> None:
    from rich.console import Console
    from rich.markup import escape

    from ..data.manifest import write_manifest
    from ..data.summary import summarize

    base = out.resolve().parent
    write_manifest(_relative(items, base), out)
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"wrote [bold]{escape(str(out))}[/bold]: {summarize(items).line()}")


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to create: wavs/ plus train/valid/"
                             "test/all.jsonl manifests."),
    minutes: float = typer.Option(3.0, help="Minutes of speech to make (about 20 utterances "
                                  "per minute)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives identical files."),
    speakers: int = typer.Option(12, help="Number of synthetic speakers (voice + variant + "
                                 "pitch)."),
    valid_speakers: int = typer.Option(2, help="Speakers held out for the valid split."),
    test_speakers: int = typer.Option(2, help="Speakers held out for the test split."),
    sample_rate: int = typer.Option(16000, help="Sample rate of the wav files, in Hz."),
    overwrite: bool = typer.Option(False, help="Replace a corpus already in --out."),
) -> None:
    """Synthesize an English speech corpus with espeak-ng (offline, in seconds).

    Speakers: espeak voice x variant x base pitch; valid/test speakers held out.
    Utterances: sentences and single words, with transcripts and phone timings.
    Label: prosody class slow|normal|fast x low|high (rate and pitch), 6 classes.
    """
    from rich.console import Console

    from ..data.summary import summarize
    from ..data.synth import SynthConfig, synthesize_corpus

    try:
        config = SynthConfig(minutes=minutes, seed=seed, n_speakers=speakers,
                             valid_speakers=valid_speakers, test_speakers=test_speakers,
                             sample_rate=sample_rate)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    result = synthesize_corpus(out, config, overwrite=overwrite)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"synthesized {result.seconds / 60:.1f} min in {result.wall_seconds:.1f} s "
                  f"({result.realtime_factor:.0f}x real time) into {out}", markup=False)
    console.print(f"  {summarize(result.items).line()}")
    for split, names in result.speakers.items():
        console.print(f"  {split} speakers ({len(names)}): {', '.join(names)}")
    console.print(f"  manifests: {', '.join(str(p) for p in result.manifests.values())}",
                  markup=False)


@data_app.command("fsdd")
def fsdd(
    root: Path = typer.Argument(..., help="FSDD folder (holding recordings/*.wav)."),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
) -> None:
    """Free Spoken Digit Dataset: label = digit, official split (takes 0-4 test, 5-9 valid)."""
    from ..data.corpora import fsdd_manifest

    _write(fsdd_manifest(root), out)


@data_app.command("librispeech")
def librispeech(
    root: Path = typer.Argument(..., help="LibriSpeech folder (searched recursively for "
                                "{speaker}-{chapter}-{utt}.flac)."),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
    held_out_speakers: str = typer.Option("", help="Comma-separated speaker ids to put in the "
                                          "test split (e.g. 1688,367)."),
) -> None:
    """LibriSpeech: speaker from the path, transcripts from *.trans.txt when present."""
    from ..data.corpora import librispeech_manifest

    held = [s.strip() for s in held_out_speakers.split(",") if s.strip()] or None
    try:
        items = librispeech_manifest(root, held_out_speakers=held)
    except ValueError as err:
        if type(err) is not ValueError:
            raise
        raise typer.BadParameter(str(err), param_hint="--held-out-speakers") from None
    _write(items, out)


@data_app.command("ljspeech")
def ljspeech(
    root: Path = typer.Argument(..., help="LJSpeech folder (metadata.csv + wavs/)."),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
) -> None:
    """LJSpeech: single speaker "LJ", normalized transcripts, split by hash of id."""
    from ..data.corpora import ljspeech_manifest

    _write(ljspeech_manifest(root), out)


@data_app.command("folder")
def folder(
    root: Path = typer.Argument(..., help="Any folder of audio files (wav, flac, ogg, mp3...)."),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
    recursive: bool = typer.Option(True, help="Also look in sub-folders."),
) -> None:
    """Any folder of audio: one item per readable file, id = its relative path.

    Unreadable files (empty, truncated, not audio) are skipped, never silently:
    each is printed with its reason and listed in OUT.skipped.tsv.
    """
    from ..data.folder import scan_folder
    from ..data.manifest import ManifestError

    scan = scan_folder(root, recursive=recursive)
    if not scan.items:
        raise ManifestError(f"{root}: no readable audio files ({len(scan.skipped)} skipped)")
    _write(scan.items, out)
    _report_skipped([(s.path, s.reason) for s in scan.skipped], out)


def _report_skipped(skipped: list[tuple[str, str]], out: Path) -> None:
    """Print skipped inputs with their reasons and list them all in OUT.skipped.tsv."""
    from rich.console import Console

    if not skipped:
        return
    report = out.with_name(out.name + ".skipped.tsv")
    report.write_text("".join(f"{path}\t{reason}\n" for path, reason in skipped),
                      encoding="utf-8")
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"skipped {len(skipped)} unusable input(s), listed with reasons in {report}:",
                  markup=False, highlight=False, style="yellow")
    for path, reason in skipped[:10]:
        console.print(f"  {path}: {reason}", markup=False, highlight=False)
    if len(skipped) > 10:
        console.print(f"  ... and {len(skipped) - 10} more")


@data_app.command("noisy")
def noisy(
    manifest: Path = typer.Argument(..., help="Manifest of clean speech (JSONL)."),
    out: Path = typer.Option(..., "--out", help="Folder to create: wavs/, noisy.jsonl "
                             "(path = mixture, clean_path = original), conditions.json."),
    snr: str = typer.Option("0,5,10", help="SNRs in dB, comma-separated; each item draws one."),
    kinds: str = typer.Option("white,pink,brown,babble", help="Noise kinds, comma-separated: "
                              "white, pink, brown, babble (other speakers of the split)."),
    talkers: int = typer.Option(3, help="Talkers mixed into one babble noise."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives identical files."),
    train_copies: int = typer.Option(1, help="Mixtures per train-split item, each with its "
                                     "own noise (more noise than utterances to learn from)."),
) -> None:
    """Mix clean speech with reproducible noise for the enhancement task.

    Every item gets one noise kind and one SNR (whole-clip RMS), drawn from a hash of
    the seed and its id. Unreadable or silent clean files are skipped and listed.
    """
    from rich.console import Console

    from ..data.manifest import read_manifest
    from ..data.noise import NoiseConfig, make_noisy_corpus

    try:
        cfg = NoiseConfig(snrs_db=comma_numbers(snr, "--snr", float),
                          kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
                          babble_talkers=talkers, seed=seed, train_copies=train_copies)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    made = make_noisy_corpus(read_manifest(manifest), out, cfg)
    verb = "reused" if made.reused else "mixed"
    Console(highlight=False, soft_wrap=True).print(
        f"{verb} {len(made.items)} noisy items into {made.manifest}", markup=False)
    _report_skipped(sorted(made.skipped.items()), made.manifest)


@data_app.command("pairs")
def pairs(
    noisy_dir: Path = typer.Argument(..., help="Folder of noisy audio (e.g. noisy_testset_wav)."),
    clean_dir: Path = typer.Argument(..., help="Folder of the clean twins, same file names."),
    out: Path = typer.Option(..., "--out", help="Folder to write noisy.jsonl in (audio paths "
                             "relative to it); `audiotokens bench --data` finds it there."),
) -> None:
    """Noisy/clean pairs by file name (VCTK-DEMAND layout): path = noisy, clean_path = clean;
    speaker = the file-name prefix before the first '_'. Writes OUT/noisy.jsonl, the
    manifest `bench --data OUT` (or a folder above OUT) reads for the enhance task."""
    from ..data.noise import NOISY_MANIFEST, paired_manifest

    if out.suffix == ".jsonl" or out.is_file():
        raise typer.BadParameter(f"{out}: --out is a folder (noisy.jsonl is written in it, "
                                 "where `bench --data` looks)", param_hint="--out")
    scan = paired_manifest(noisy_dir, clean_dir)
    manifest = out / NOISY_MANIFEST
    _write(scan.items, manifest)
    _report_skipped([(s.path, s.reason) for s in scan.skipped], manifest)


@data_app.command("minimal-pairs")
def minimal_pairs(
    out: Path = typer.Option(..., "--out", help="Folder for wavs/, all.jsonl and pairs.jsonl."),
    speakers: int = typer.Option(2, "--speakers", min=1, help="Speakers: the last N of the "
                                 "synthetic corpus's speakers (its held-out test ones first)."),
    min_phones: int = typer.Option(4, "--min-phones", min=2, help="Use words of at least N "
                                   "phonemes."),
    seed: int = typer.Option(0, "--seed", help="Picks the phone each pseudo-word changes."),
    overwrite: bool = typer.Option(False, help="Replace pairs made with other settings."),
) -> None:
    """Synthesize spoken word / pseudo-word pairs (sWUGGY-style) with espeak-ng.

    Each pseudo-word changes one phoneme of a real word for another of its
    class (stop, fricative, nasal, liquid, vowel), spoken by the same voice.
    Encode OUT/all.jsonl with a tokenizer, or give `llm probe --pairs OUT
    --tokenizer ...`, to score an LM on them.
    """
    from ..data.minimal_pairs import PairConfig, synthesize_pairs

    try:
        config = PairConfig(min_phones=min_phones, n_speakers=speakers, seed=seed)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    made = synthesize_pairs(out, config, overwrite=overwrite)
    seconds = sum(it.duration for it in made.items)
    typer.echo(f"{len(made.pairs)} pairs ({len(made.items)} clips, {seconds:.0f} s) in "
               f"{made.manifest}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` sub-app to the root app."""
    app.add_typer(data_app, name="data")
