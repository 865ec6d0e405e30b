"""Prototype: a semantic static embedder that loads from the ``wordllama`` wheel's own files.

Self-contained (numpy, tokenizers, safetensors; the ``wordllama`` wheel installed for its data):
it does **not** import the ``wordllama`` package, because

- ``wordllama.WordLlama.load()`` looks for the tokenizer in ``wordllama/tokenizer/`` (singular)
  while the wheel ships it in ``wordllama/tokenizers/``; it then looks in ``~/.cache/wordllama``
  and, unless ``disable_download=True``, downloads from the Hugging Face hub (and its
  ``load_tokenizer`` falls back to ``Tokenizer.from_pretrained``, a download too);
- importing ``wordllama`` (its ``__init__`` and ``inference`` modules) calls
  ``logging.basicConfig(level=logging.INFO)``, which configures the *root* logger of the host
  process, and imports ``requests``, ``pydantic`` and ``toml`` and parses 20 training configs.

So this module finds the package folder with ``importlib.util.find_spec`` (which does not run the
package) and reads the two files itself:

- ``wordllama/weights/l2_supercat_256.safetensors``: tensor ``embedding.weight``, 32,000 x 256,
  float16 (16 MB). Matryoshka-trained: the first 64 or 128 components are a usable smaller model.
- ``wordllama/tokenizers/l2_supercat_tokenizer_config.json``: the Llama-2 BPE tokenizer.

An embedding is what ``WordLlamaInference.embed(texts, norm=True)`` computes: the mean of the
token vectors (no special tokens), L2-normalized. ``tests`` in ``prototype/offline_check.py``
compare the two on the same texts.

Network: nothing here can open a connection: ``tokenizers.Tokenizer.from_file`` and
``safetensors.safe_open`` read local files only, and no Hugging Face code is imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
TENSOR_KEY = "embedding.weight"
MODEL_DIMENSIONS = 256
# Matryoshka dimensions the model was trained for (wordllama's ModelURI.available_dims, up to
# the 256 that the wheel carries).
AVAILABLE_DIMENSIONS = (64, 128, 256)


def package_dir(package: str = "wordllama") -> Path:
    """The installed package's folder, found without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {package!r} wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedder:
    """Mean-pooled static token embeddings (WordLlama l2_supercat), L2-normalized.

    ``dimensions`` truncates the model (Matryoshka): 256, 128 or 64. ``lowercase`` lower-cases
    texts first (the Llama tokenizer is case-sensitive: "Pasta" and "pasta" are other tokens).
    ``model_dir`` overrides where the two files are read from (a layer may ship them alone).
    """

    BATCH = 64

    def __init__(
        self,
        dimensions: int = MODEL_DIMENSIONS,
        *,
        lowercase: bool = False,
        model_dir: Path | str | None = None,
    ) -> None:
        if dimensions not in AVAILABLE_DIMENSIONS:
            raise ValueError(f"dimensions must be one of {AVAILABLE_DIMENSIONS}, not {dimensions}")
        import numpy as np
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = Path(model_dir) if model_dir is not None else package_dir()
        with safe_open(str(root / WEIGHTS_FILE), framework="np", device="cpu") as weights:
            matrix = weights.get_tensor(TENSOR_KEY)
        if matrix.ndim != 2 or matrix.shape[1] < dimensions:
            raise ValueError(f"unexpected embedding matrix of shape {matrix.shape}")
        self._np = np
        # float32 for the sums (the file is float16): 32,000 x 256 x 4 bytes = 33 MB.
        self._matrix = np.ascontiguousarray(matrix[:, :dimensions], dtype=np.float32)
        self._tokenizer: Any = Tokenizer.from_file(str(root / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.dimensions = dimensions
        self.lowercase = lowercase

    def embed_array(self, texts: Sequence[str]) -> Any:
        """A float32 array of shape (len(texts), dimensions), one unit vector per text."""
        np = self._np
        texts = [text.lower() for text in texts] if self.lowercase else list(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        # Slices of BATCH texts: the gathered token vectors of a slice stay small (64 chunks of
        # ~175 tokens are 11 MB in float32); one call on 2,000 chunks was 2.6 times slower.
        for start in range(0, len(texts), self.BATCH):
            self._pool(texts[start : start + self.BATCH], out[start : start + self.BATCH])
        norms = np.linalg.norm(out, axis=1)
        # No token at all (""), or tokens whose mean is zero: one fixed direction, as the
        # LocalEmbedder does, since a zero vector has no cosine.
        degenerate = norms == 0.0
        out[degenerate, 0] = 1.0
        norms[degenerate] = 1.0
        out /= norms[:, None]
        return out

    def _pool(self, texts: list[str], out: Any) -> None:
        """Write the mean token vector of each text into the rows of ``out`` (zero if none)."""
        np = self._np
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        nonempty = lengths > 0
        if not nonempty.any():
            return
        ids = np.fromiter(
            (i for e in encodings for i in e.ids), dtype=np.int64, count=int(lengths.sum())
        )
        np.clip(ids, 0, self._matrix.shape[0] - 1, out=ids)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        sums = np.add.reduceat(self._matrix[ids], starts, axis=0)
        out[nonempty] = sums / lengths[nonempty, None]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalized vector per text, in input order (the ``Embedder`` protocol)."""
        return self.embed_array(texts).tolist()
