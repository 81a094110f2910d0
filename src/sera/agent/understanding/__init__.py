"""Understanding by meaning: the embedded sentence-embedding model, and what is learned with it.

- ``embedding``: a static sentence-embedding model shipped in the package (``model/``),
  distilled from all-MiniLM-L6-v2; numpy, safetensors and tokenizers at run time, no PyTorch.
- ``intents``: which intent a caller's line carries, by nearest neighbours over an utterance
  bank (``utterances/``, broad on purpose) plus the shop's own examples.

Exact things (dates, times, numbers, emails, phone numbers, yes/no) stay rules, in
``sera.agent.language``.
"""
