"""Built-in English words and a tiny template grammar for the synthetic corpus.

Everything is plain lowercase text without punctuation, so the transcript is exactly what is
spoken; the same ``numpy.random.Generator`` state always gives the same text.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEXICON", "WORDS", "random_sentence", "random_word"]

_DETERMINERS = ("the", "a", "this", "that", "every", "one", "my", "your", "our", "their")
_ADJECTIVES = (
    "big", "small", "red", "green", "blue", "old", "young", "quiet", "loud", "bright",
    "dark", "warm", "cold", "happy", "tired", "quick", "slow", "heavy", "light", "clever",
    "gentle", "brave", "strange", "simple", "careful", "golden", "silver", "wooden", "empty",
    "busy",
)
_NOUNS = (
    "dog", "cat", "bird", "horse", "child", "teacher", "doctor", "farmer", "river", "garden",
    "house", "window", "table", "letter", "story", "song", "city", "road", "train", "boat",
    "island", "mountain", "forest", "apple", "orange", "bottle", "chair", "picture", "clock",
    "market", "kitchen", "morning", "evening", "winter", "summer", "friend", "neighbour",
    "student", "captain", "village",
)
_VERBS = (
    "sees", "finds", "likes", "paints", "carries", "follows", "watches", "opens", "closes",
    "builds", "reads", "writes", "cleans", "visits", "remembers", "moves", "helps", "calls",
    "brings", "keeps",
)
_INTRANSITIVE = ("sleeps", "waits", "sings", "laughs", "arrives", "leaves", "listens", "walks",
                 "rests", "smiles")
_ADVERBS = ("slowly", "quickly", "today", "again", "quietly", "early", "later", "often",
            "together", "outside")
_PREPOSITIONS = ("near", "behind", "under", "beside", "inside", "across", "above", "around")
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: every word the generator can produce (isolated-word utterances draw from these)
WORDS: tuple[str, ...] = tuple(sorted(set(
    _ADJECTIVES + _NOUNS + _VERBS + _INTRANSITIVE + _ADVERBS + _NUMBERS
)))


def _lexicon() -> tuple[str, ...]:
    plain = (_DETERMINERS + ("an",) + _ADJECTIVES + _NOUNS + _VERBS + _INTRANSITIVE + _ADVERBS
             + _PREPOSITIONS + _NUMBERS)
    return tuple(sorted(set(plain) | {_plural(n) for n in _NOUNS}))


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator) -> list[str]:
    words = [_pick(rng, _DETERMINERS)]
    if rng.random() < 0.6:
        words.append(_pick(rng, _ADJECTIVES))
    words.append(_pick(rng, _NOUNS))
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return words


def _plural(noun: str) -> str:
    if noun == "child":
        return "children"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


#: every word a generated utterance can contain (sentences too: determiners, plurals, ...)
LEXICON: tuple[str, ...] = _lexicon()


def random_word(rng: np.random.Generator) -> str:
    """One word from :data:`WORDS`."""
    return _pick(rng, WORDS)


def random_sentence(rng: np.random.Generator) -> str:
    """A short grammatical sentence (3 to ~12 words), e.g. "the old farmer paints a boat"."""
    words = _noun_phrase(rng)
    form = int(rng.integers(4))
    if form == 0:
        words += [_pick(rng, _VERBS), *_noun_phrase(rng)]
    elif form == 1:
        words += [_pick(rng, _INTRANSITIVE), _pick(rng, _PREPOSITIONS), *_noun_phrase(rng)]
    elif form == 2:
        words += [_pick(rng, _INTRANSITIVE), _pick(rng, _ADVERBS)]
    else:
        count = _pick(rng, _NUMBERS[2:])
        words += [_pick(rng, _VERBS), count, _plural(_pick(rng, _NOUNS))]
    if form != 2 and rng.random() < 0.3:
        words.append(_pick(rng, _ADVERBS))
    return " ".join(words)
