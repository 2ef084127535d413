"""Token interpretability: what tokens say about phones and speakers.

- :mod:`.phones`: phone labels per frame from manifest alignments, and the HuBERT paper's
  phone purity, cluster purity and PNMI of tokens against them;
- :mod:`.usage`: per codebook usage, entropy and perplexity;
- :mod:`.tokenmap`: the token -> phone map (top phones per token) and its inverse;
- :mod:`.leakage`: speaker leakage, a linear probe on per-utterance token histograms;
- :mod:`.analyze`: all of the above for a token store and its manifest (``audiotokens analyze``).
"""

from .phones import (
    SILENCE,
    SILENCE_ID,
    AnalysisError,
    PhoneCounter,
    PhoneInventory,
    PhoneScores,
    frame_phones,
    phone_scores,
)

__all__ = ["SILENCE", "SILENCE_ID", "AnalysisError", "PhoneCounter", "PhoneInventory",
           "PhoneScores", "frame_phones", "phone_scores"]
