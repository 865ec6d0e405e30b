"""Text embeddings: one interface, two implementations, chosen by ``EMBEDDER``.

- :class:`LocalEmbedder` (``EMBEDDER=local``, the default): deterministic feature hashing in
  pure Python, with no model to download and no numpy. It measures **lexical similarity only**:
  texts score close when they share words (or, through character trigrams, word forms such as
  "invoice" and "invoices"); synonyms and paraphrases do not. It serves the local runner, the
  tests and any stage that needs search without Bedrock.
- :class:`BedrockEmbedder` (``EMBEDDER=bedrock``): Amazon Titan Text Embeddings V2 on Amazon
  Bedrock, one ``InvokeModel`` call per text, up to ``EMBEDDING_BATCH_SIZE`` calls at a time;
  throttling and a model that is not ready yet are retried by botocore's standard retry mode
  (exponential backoff, full jitter, ``EMBEDDING_MAX_ATTEMPTS`` attempts).

Both return L2-normalized vectors of ``EMBEDDING_DIMENSIONS`` floats, so cosine similarity is
their dot product. Vectors of the two implementations are not comparable: an index built with
one must be rebuilt to switch to the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from functools import cache, lru_cache
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
    if settings.embedder == "bedrock":
        return BedrockEmbedder(
            dimensions=settings.embedding_dimensions,
            model_id=settings.bedrock_model_id,
            batch_size=settings.embedding_batch_size,
            max_attempts=settings.embedding_max_attempts,
        )
    return LocalEmbedder(settings.embedding_dimensions)


def reset_embedder() -> None:
    """Forget the cached embedder (tests and the local runner change the environment)."""
    get_embedder.cache_clear()


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
