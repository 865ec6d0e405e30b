"""The static embedder: WordLlama's token vectors read from the wheel's own files, no network."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from functions.registry import REPO_ROOT
from shared.embeddings import (
    STATIC_WEIGHTS_FILE,
    STATIC_WEIGHTS_SHA256,
    StaticEmbedder,
    document_text,
    static_model_dir,
)


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder(256)


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_loading_and_embedding_open_no_network_connection():
    # Given a fresh interpreter whose sockets refuse every connection and name lookup, and no
    # Hugging Face offline switch (nothing should need it)
    code = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network guard: no connection allowed")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse
from shared.embeddings import StaticEmbedder
vectors = StaticEmbedder(256).embed(["unpaid bill", "Our cat sleeps on the sofa", ""])
assert len(vectors) == 3 and all(len(v) == 256 for v in vectors)
network = {"wordllama", "huggingface_hub", "requests"}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in network)
print("attempts", attempts, "modules", loaded)
sys.exit(1 if attempts or loaded else 0)
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONPATH": str(REPO_ROOT)}
    # When it loads the model and embeds three texts
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    # Then nothing tried to connect, and neither wordllama nor a hub client was imported
    assert done.returncode == 0, done.stdout + done.stderr
    assert "attempts [] modules []" in done.stdout


def test_the_model_file_is_the_one_measured(embedder):
    # The weights the evaluation figures were measured with (docs/vectors.md)
    digest = hashlib.sha256((static_model_dir() / STATIC_WEIGHTS_FILE).read_bytes()).hexdigest()
    assert digest == STATIC_WEIGHTS_SHA256


def test_vectors_are_unit_length_and_deterministic(embedder):
    texts = ["Invoice 1042 is overdue.", "Ünïcödé wörds 東京", "", "   ", "x" * 5000]
    first = np.asarray(embedder.embed(texts))
    assert first.shape == (5, 256)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, np.asarray(embedder.embed(texts)))
    # An empty text gets one fixed direction, as the lexical embedder gives it
    assert first[2].tolist() == [1.0] + [0.0] * 255


def test_meaning_not_words_brings_texts_together(embedder):
    # Given paraphrases that share no word, and an unrelated text
    bill, invoice, cat = embedder.embed(
        ["unpaid bill", "The invoice is overdue and the customer has not paid", "Our cat sleeps"]
    )
    kitten, sofa = embedder.embed(["kitten napping on the couch", "Our cat sleeps on the sofa"])
    # Then each is closer to its paraphrase than to the unrelated text
    assert cosine(bill, invoice) > cosine(bill, cat) + 0.1
    assert cosine(kitten, sofa) > cosine(kitten, invoice) + 0.1


def test_a_title_embedded_with_the_chunk_makes_it_findable(embedder):
    text = "Boil salted water, cook for nine minutes, drain, then toss with olive oil and garlic."
    query, with_title, without = embedder.embed(
        ["pasta", document_text("Pasta recipe", text), text]
    )
    assert document_text("Pasta recipe", text) == f"Pasta recipe\n{text}"
    assert cosine(query, with_title) > cosine(query, without)


@pytest.mark.parametrize("dimensions", [64, 128])
def test_smaller_matryoshka_models_are_the_leading_components(embedder, dimensions):
    small = StaticEmbedder(dimensions).embed(["travel expenses"])[0]
    full = np.asarray(embedder.embed(["travel expenses"])[0])
    head = full[:dimensions] / np.linalg.norm(full[:dimensions])
    assert np.allclose(small, head, atol=1e-5)


def test_unknown_dimensions_are_refused():
    with pytest.raises(ValueError, match="64, 128, 256"):
        StaticEmbedder(300)
