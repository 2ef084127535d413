"""A small ctypes driver for libespeak-ng as shipped by ``espeakng-loader`` (no binary, no apt).

espeak-ng keeps all of its state (voice, parameters, synth callback, wave generator phases)
in process-global C variables. So:

- each ``with Espeak() as tts:`` session dlopens a private copy of the library and closes it
  on exit: a session starts from fresh C state, and the same calls in a fresh session give
  bit-identical samples (open one session per utterance for per-utterance determinism);
- sessions are serialised by one process-wide lock (``_PROCESS_LOCK``, a synchronisation
  primitive, not data), held from ``__enter__`` to ``__exit__``; other threads block (it
  also keeps the process-global environment of the C library single-threaded).

The library handle and the callback live on the instance; nothing else is kept at module
level.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

__all__ = ["Espeak", "EspeakError", "Utterance"]

_PROCESS_LOCK = threading.RLock()  # re-entrant: a nested session in one thread is safe

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEME_INPUT = 0x100  # espeakPHONEMES: "[[...]]" in the text is read as phoneme mnemonics
_PHONEME_SEPARATOR = ord("_") << 8  # espeak_TextToPhonemes: "_" between phoneme names
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_EVENT_LIST_TERMINATED, _EVENT_END, _EVENT_PHONEME = 0, 5, 7
_STRESS_MARKS = str.maketrans("", "", "ˈˌ")

RATE_RANGE = (80, 450)  # words per minute accepted by espeak-ng
PITCH_RANGE = (0, 100)  # espeak-ng base pitch / pitch range scale


class EspeakError(RuntimeError):
    """libespeak-ng could not be loaded, initialised, or refused a voice / text."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Utterance:
    """One synthesized text: int16 samples [N] at ``sample_rate`` Hz, and its phones.

    ``phones`` holds (IPA phone without stress marks, start_s, end_s), in order; a phone ends
    where the next phoneme event (a phone or a pause) starts, the last one at the END event.
    """

    samples: np.ndarray
    sample_rate: int
    phones: list[tuple[str, float, float]]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


class Espeak:
    """libespeak-ng in synchronous mode with phoneme events; use as a context manager."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            self._library_path = Path(espeakng_loader.get_library_path())
            self._data_path = espeakng_loader.get_data_path()
        except (ImportError, RuntimeError) as err:
            raise EspeakError(f"cannot find libespeak-ng: {err} "
                              "(pip install espeakng-loader)") from None
        if not self._library_path.is_file():
            raise EspeakError(f"{self._library_path}: libespeak-ng missing "
                              "(reinstall espeakng-loader)")
        self._callback = _CALLBACK(self._on_audio)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str, int]] = []
        self._lib: ctypes.CDLL | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.sample_rate = 0

    def _open_private_copy(self) -> ctypes.CDLL:
        """dlopen a private copy of the library: fresh C statics (e.g. wavegen's pitch-flutter
        phase, which otherwise carries over from utterance to utterance), so the same text and
        settings give the same samples whatever was spoken before in this process."""
        self._tmp = tempfile.TemporaryDirectory(prefix="audiotokens-espeak-")
        copy = Path(self._tmp.name) / self._library_path.name
        shutil.copyfile(self._library_path, copy)
        lib = ctypes.CDLL(str(copy), mode=os.RTLD_LOCAL)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                              ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        return lib

    def _close_private_copy(self) -> None:
        import _ctypes

        if self._lib is not None:
            self._lib.espeak_Terminate()
            unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
            if unload is not None:
                unload(self._lib._handle)
            self._lib = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Espeak:
        _PROCESS_LOCK.acquire()
        try:
            self._lib = self._open_private_copy()
            options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
            rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                               self._data_path.encode(), options)
            if rate <= 0:
                raise EspeakError(f"espeak_Initialize failed (data path {self._data_path})")
            self._lib.espeak_SetSynthCallback(self._callback)
        except BaseException:
            self._close_private_copy()
            _PROCESS_LOCK.release()
            raise
        self.sample_rate = int(rate)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._close_private_copy()
        finally:
            _PROCESS_LOCK.release()

    def _on_audio(self, wav: ctypes._Pointer, n_samples: int, events: ctypes._Pointer) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                name = ev.id.string.decode("utf-8", "replace").translate(_STRESS_MARKS)
                self._events.append((ev.type, name, ev.sample))
            elif ev.type == _EVENT_END:
                self._events.append((ev.type, "", ev.sample))
            i += 1
        return 0

    def _set_voice(self, voice: str) -> None:
        if self._lib is None:
            raise EspeakError("use Espeak as a context manager: `with Espeak() as tts: ...`")
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {voice!r} (e.g. 'en-us', 'en-gb-x-rp+m3')")

    def phonemes(self, text: str, voice: str) -> list[str]:
        """The phonemes ``voice`` speaks for ``text``: espeak's ASCII mnemonics, stress marks
        (' primary, , secondary) kept on the phoneme they precede, e.g. "garden" in en-us ->
        ``["g", "'A@", "d", "@", "n"]``. Joined and put in ``[[...]]`` they are valid
        :meth:`synthesize` input with ``phonemes=True`` (the same audio as the text)."""
        self._set_voice(voice)
        assert self._lib is not None
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        pointer = ctypes.pointer(buffer)
        names: list[str] = []
        while pointer.contents.value:  # one clause per call; the pointer moves on
            out = self._lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, _PHONEME_SEPARATOR)
            if out is None:
                break
            names += [n for n in out.decode("utf-8", "replace").replace(" ", "_").split("_")
                      if n]
        return names

    def synthesize(self, text: str, voice: str, *, rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, phonemes: bool = False) -> Utterance:
        """Speak ``text`` with ``voice`` (e.g. "en-us+f2"), ``rate`` in words/minute (80..450),
        ``pitch`` and ``pitch_range`` on espeak's 0..100 scale; returns an :class:`Utterance`.
        With ``phonemes``, text inside ``[[...]]`` is read as phoneme mnemonics (see
        :meth:`phonemes`).

        Output is bit-identical for the same calls in a fresh session, except for variants
        with breath noise (f2, f3, f5, Alicia, ...), which vary from run to run.
        """
        _check_range("rate", rate, RATE_RANGE)
        _check_range("pitch", pitch, PITCH_RANGE)
        _check_range("pitch_range", pitch_range, PITCH_RANGE)
        self._set_voice(voice)
        assert self._lib is not None
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch),
                             (_PARAM_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        flags = _CHARS_UTF8 | (_PHONEME_INPUT if phonemes else 0)
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags,
                                        None, None)
        self._lib.espeak_Synchronize()
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status} for {text[:40]!r}")
        samples = (np.concatenate(self._chunks) if self._chunks
                   else np.zeros(0, dtype=np.int16))
        return Utterance(samples=samples.astype(np.int16, copy=False),
                         sample_rate=self.sample_rate,
                         phones=_phones(self._events, self.sample_rate, len(samples)))


def _phones(events: list[tuple[int, str, int]], sample_rate: int,
            n_samples: int) -> list[tuple[str, float, float]]:
    """Turn (type, phone, sample) marks into (phone, start_s, end_s); pauses ('' or '_')
    only end the phone before them."""
    phones: list[tuple[str, float, float]] = []
    marks = sorted(((s, i, name) for i, (_, name, s) in enumerate(events)))
    for k, (start, _, name) in enumerate(marks):
        if not name or name.startswith("_"):
            continue
        end = marks[k + 1][0] if k + 1 < len(marks) else n_samples
        end = min(max(end, start), n_samples)
        phones.append((name, start / sample_rate, end / sample_rate))
    return phones


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be in {bounds[0]}..{bounds[1]}, got {value}")
