"""Understanding by meaning: the embedded sentence-embedding model, and what is learned with it.

- ``embedding``: the sentence transformer all-MiniLM-L6-v2, fine-tuned on callers' lines and the
  shop entries answering them (``tuning/``, read only by ``scripts/build-embedding-model``),
  shipped in the package (``model/``) and run with numpy; safetensors and tokenizers read it,
  no PyTorch.
- ``intents``: which intent a caller's line carries, by a logistic regression over an utterance
  bank (``utterances/``, broad on purpose) plus the shop's own examples.

Exact things (dates, times, numbers, emails, phone numbers, yes/no) stay rules, in
``sera.agent.language``.
"""
