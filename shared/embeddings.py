"""Text embeddings: one interface, three implementations, chosen by ``EMBEDDER``.

- :class:`StaticEmbedder` (``EMBEDDER=static``, the local default, allowed in AWS): a static
  embedding model (WordLlama ``l2_supercat``, 256 dimensions, MIT) read from the files the
  ``wordllama`` wheel ships, with no download and no network: the mean of the text's token
  vectors. It captures meaning ("unpaid bill" finds "the invoice is overdue"); on the labelled
  set it finds the intended document first for 72 % of the queries (docs/vectors.md).
- :class:`LocalEmbedder` (``EMBEDDER=local``, local only): deterministic feature hashing in pure
  Python, with no model and no numpy. It measures **lexical similarity only**: texts score
  close when they share words (or, through character trigrams, word forms such as "invoice" and
  "invoices"); synonyms and paraphrases do not.
- :class:`BedrockEmbedder` (``EMBEDDER=bedrock``): Amazon Titan Text Embeddings V2 on Amazon
  Bedrock, one ``InvokeModel`` call per text, up to ``EMBEDDING_BATCH_SIZE`` calls at a time;
  throttling and a model that is not ready yet are retried by botocore's standard retry mode
  (exponential backoff, full jitter, ``EMBEDDING_MAX_ATTEMPTS`` attempts).

All return L2-normalized vectors of ``EMBEDDING_DIMENSIONS`` floats, so cosine similarity is
their dot product. Vectors of two implementations are not comparable: an index built with one
must be rebuilt to switch to another. Documents are embedded chunk by chunk as
``f"{title}\n{chunk}"`` (:func:`document_text`), so that a title is searchable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

from shared.platform.settings import (
    TITAN_V2_DIMENSIONS,
    TITAN_V2_MODEL_ID,
    EmbeddingSettings,
    get_settings,
)

# Titan Text Embeddings V2 accepts up to 8,192 tokens or 50,000 characters of input.
TITAN_V2_MAX_CHARS = 50_000


class Embedder(Protocol):
    """Turns texts into vectors of ``dimensions`` floats, one per text, in input order."""

    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingError(Exception):
    """The embedding service failed or answered something that is not an embedding."""


@cache
def get_embedder() -> Embedder:
    """The embedder that ``EmbeddingSettings`` choose, created once per execution environment."""
    settings = get_settings(EmbeddingSettings)
    if settings.embedder == "static":
        return StaticEmbedder(settings.embedding_dimensions)
    if settings.embedder == "bedrock":
        return BedrockEmbedder(
            dimensions=settings.embedding_dimensions,
            model_id=settings.bedrock_model_id,
            batch_size=settings.embedding_batch_size,
            max_attempts=settings.embedding_max_attempts,
        )
    return LocalEmbedder(settings.embedding_dimensions)


def prime() -> None:
    """Before a SnapStart snapshot: create the embedder and, unless it is Bedrock's (embedding
    is a call there), embed one text, so that the model file is read, its matrix converted and
    the tokenizer run once in the snapshot rather than on a restored copy's first record."""
    embedder = get_embedder()
    if not isinstance(embedder, BedrockEmbedder):
        embedder.embed(["snapstart priming"])


def reset_embedder() -> None:
    """Forget the cached embedder (tests and the local runner change the environment)."""
    get_embedder.cache_clear()


def document_text(title: str, chunk: str) -> str:
    """What is embedded for one chunk of a document: its title, a newline, the chunk."""
    return f"{title}\n{chunk}"


def min_score() -> float:
    """Search results scoring below this are not returned (``SEARCH_MIN_SCORE``, by default the
    embedder's own: ``shared.platform.settings.DEFAULT_MIN_SCORE``)."""
    value = get_settings(EmbeddingSettings).search_min_score
    return float(value) if value is not None else 0.0


# --- Static: WordLlama's token vectors, mean-pooled ------------------------------------------

STATIC_WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
STATIC_TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
STATIC_TENSOR_KEY = "embedding.weight"
#: The Matryoshka dimensions the model was trained for, up to the 256 the wheel carries.
STATIC_DIMENSIONS = (64, 128, 256)
#: sha256 of the weights file (the same in wordllama 0.2.2.post0 and 0.4.0.post1).
STATIC_WEIGHTS_SHA256 = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"


def static_model_dir() -> Path:
    """The folder holding the model's two files: the ``wordllama`` wheel's package folder in
    the dev environment, or the embedder layer's ``/opt/python/wordllama`` (the same layout, no
    code) in Lambda. Found without importing the package: ``wordllama``'s own import configures
    the root logger and its loader looks for the tokenizer in the wrong folder, then downloads."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError("the static model is not installed (the wordllama files)")
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedder:
    """Mean-pooled static token embeddings (WordLlama ``l2_supercat``), L2-normalized.

    What ``wordllama.WordLlamaInference.embed(texts, norm=True)`` computes: the mean of the
    text's token vectors (Llama-2 BPE, no special tokens), normalized. ``dimensions`` truncates
    the model (Matryoshka): 256, 128 or 64. Only local files are read
    (``tokenizers.Tokenizer.from_file``, ``safetensors.safe_open``): nothing here can open a
    connection (``tests/unit/test_static_embedder.py`` proves it with a socket guard).
    Needs numpy, tokenizers and safetensors (the embedder layer in AWS).
    """

    BATCH = 64

    def __init__(self, dimensions: int = 256, *, model_dir: Path | str | None = None) -> None:
        if dimensions not in STATIC_DIMENSIONS:
            raise ValueError(f"dimensions must be one of {STATIC_DIMENSIONS}, not {dimensions}")
        import numpy as np
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = Path(model_dir) if model_dir is not None else static_model_dir()
        with safe_open(str(root / STATIC_WEIGHTS_FILE), framework="np", device="cpu") as weights:
            matrix = weights.get_tensor(STATIC_TENSOR_KEY)
        if matrix.ndim != 2 or matrix.shape[1] < dimensions:
            raise EmbeddingError(f"unexpected embedding matrix of shape {matrix.shape}")
        self._np = np
        # float32 for the sums (the file is float16): 32,000 x 256 x 4 bytes = 33 MB.
        self._matrix = np.ascontiguousarray(matrix[:, :dimensions], dtype=np.float32)
        self._tokenizer: Any = Tokenizer.from_file(str(root / STATIC_TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.dimensions = dimensions

    def embed_array(self, texts: Sequence[str]) -> Any:
        """A float32 array of shape (len(texts), dimensions), one unit vector per text."""
        np = self._np
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Slices of BATCH texts keep the gathered token vectors small (64 chunks of ~175 tokens
        # are 11 MB in float32); one call on 2,000 chunks was 2.6 times slower.
        for start in range(0, len(texts), self.BATCH):
            self._pool(list(texts[start : start + self.BATCH]), out[start : start + self.BATCH])
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
        result: list[list[float]] = self.embed_array(texts).tolist()
        return result


# --- Local: feature hashing ----------------------------------------------------------------

# Unicode letters and digits; "_" is a word character for \w but not a letter or digit.
_TOKEN = re.compile(r"[^\W_]+")
STOP_WORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
        "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
        "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
        "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
        "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on", "once",
        "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
        "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
        "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
        "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
        "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
        "yourselves",
    }
)  # fmt: skip
# The share of a word's weight (as L2 norm) given to its character trigrams, next to 1.0 for the
# word itself: enough for "invoice" and "invoices" to be close, not so much that words which
# merely share letters look alike.
_TRIGRAM_WEIGHT = 0.7


# Longer "words" (hashes, base64, URLs run together) get no trigrams: they are no word forms.
_MAX_TRIGRAM_TOKEN = 40


@lru_cache(maxsize=16_384)  # a document's vocabulary repeats: hash each word once
def _features(token: str, dimensions: int) -> tuple[tuple[int, float], ...]:
    """The hashed (index, signed weight) features of one token: the word, then its trigrams."""
    features = [("w", token, 1.0)]
    if len(token) <= _MAX_TRIGRAM_TOKEN:
        padded = f"<{token}>"
        trigrams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        per_trigram = _TRIGRAM_WEIGHT / math.sqrt(len(trigrams))
        features += [("c", gram, per_trigram) for gram in trigrams]
    result: list[tuple[int, float]] = []
    for kind, text, weight in features:
        digest = hashlib.blake2b(f"{kind}:{text}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        # The low bits pick the slot, the top bit the sign: collisions then cancel out on
        # average instead of adding up.
        sign = -1.0 if value >> 63 else 1.0
        result.append((value % dimensions, sign * weight))
    return tuple(result)


class LocalEmbedder:
    """Deterministic lexical embeddings by signed feature hashing (see the module docstring)."""

    def __init__(self, dimensions: int = 256) -> None:
        if dimensions < 1:
            raise ValueError(f"dimensions must be positive, not {dimensions}")
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalized vector per text, in input order."""
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        tokens = _TOKEN.findall(text.lower())
        counts: dict[str, int] = {}
        for token in tokens:
            if token not in STOP_WORDS:
                counts[token] = counts.get(token, 0) + 1
        if not counts:  # only stop words ("to be or not to be"): better them than nothing
            for token in tokens:
                counts[token] = counts.get(token, 0) + 1
        vector = [0.0] * self.dimensions
        if not counts:
            # No word at all: one fixed direction, since a zero vector has no cosine.
            vector[0] = 1.0
            return vector
        for token, count in counts.items():
            tf = 1.0 + math.log(count)  # sublinear: the tenth "invoice" adds little
            for index, weight in _features(token, self.dimensions):
                vector[index] += tf * weight
        norm = math.sqrt(math.fsum(x * x for x in vector))
        if norm == 0.0:  # every feature cancelled out: vanishingly rare, but not a zero vector
            vector[0] = 1.0
            return vector
        return [x / norm for x in vector]


# --- Bedrock: Titan Text Embeddings V2 -------------------------------------------------------


def _error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (duck-typed: botocore stays unimported)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class BedrockEmbedder:
    """Titan Text Embeddings V2 through ``bedrock-runtime`` ``InvokeModel``.

    Titan V2 embeds one text per call, so a batch runs up to ``batch_size`` calls at once in a
    thread pool (boto3 clients are thread-safe); results keep the input order. The client
    retries throttling and not-yet-ready answers itself (botocore's standard mode,
    ``max_attempts`` attempts in all); whatever still fails raises :class:`EmbeddingError`.
    Texts longer than Titan's limit are truncated.

    ``client`` defaults to ``shared.platform.aws.client("bedrock-runtime")``, created on first use.
    """

    def __init__(
        self,
        *,
        dimensions: int = 256,
        model_id: str = TITAN_V2_MODEL_ID,
        batch_size: int = 16,
        max_attempts: int = 5,
        client: Any = None,
    ) -> None:
        if dimensions not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"Titan V2 dimensions are {TITAN_V2_DIMENSIONS}, not {dimensions}")
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")
        self.dimensions = dimensions
        self.model_id = model_id
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._client = client

    @property
    def client(self) -> Any:
        """The bedrock-runtime client (the shared, cached one unless one was injected)."""
        if self._client is None:
            from shared.platform import aws

            self._client = aws.client("bedrock-runtime", max_attempts=self.max_attempts)
        return self._client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalized vector per text, in input order; raises :class:`EmbeddingError`."""
        if not texts:
            return []
        if self.batch_size == 1 or len(texts) == 1:
            return [self._embed_one(text) for text in texts]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(
            max_workers=min(self.batch_size, len(texts)), thread_name_prefix="embed"
        ) as pool:
            futures = [pool.submit(self._embed_one, text) for text in texts]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:  # one text failed: do not spend calls on the rest
                    future.cancel()
                raise

    def _embed_one(self, text: str) -> list[float]:
        if not text.strip():
            raise EmbeddingError("Cannot embed an empty text.")
        body = json.dumps(
            {
                "inputText": text[:TITAN_V2_MAX_CHARS],
                "dimensions": self.dimensions,
                "normalize": True,
            }
        )
        try:
            response = self.client.invoke_model(
                modelId=self.model_id,
                body=body,
                contentType="application/json",
                accept="application/json",
            )
        except Exception as exc:
            code = _error_code(exc)
            if code is None and not _is_botocore_error(exc):
                raise  # a bug here, not a failure of the service
            raise EmbeddingError(f"Bedrock failed to embed a text ({code or exc}).") from exc
        return self._parse(response)

    def _parse(self, response: Any) -> list[float]:
        try:
            payload = json.loads(response["body"].read())
            embedding = payload["embedding"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingError("Bedrock answered without an embedding.") from exc
        if not isinstance(embedding, list) or len(embedding) != self.dimensions:
            got = len(embedding) if isinstance(embedding, list) else type(embedding).__name__
            raise EmbeddingError(
                f"Bedrock returned an embedding of {got} values, not {self.dimensions}."
            )
        return [float(x) for x in embedding]


def _is_botocore_error(exc: BaseException) -> bool:
    """True for botocore's own failures (connection, timeout, validation of parameters)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - botocore ships with boto3
        return False
    return isinstance(exc, BotoCoreError | ClientError)
