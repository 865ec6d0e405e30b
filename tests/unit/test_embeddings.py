"""Embeddings: the local lexical embedder, and Titan V2 on Bedrock under botocore's Stubber."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from shared import embeddings
from shared.embeddings import (
    TITAN_V2_MAX_CHARS,
    BedrockEmbedder,
    EmbeddingError,
    EmbeddingSettings,
    LocalEmbedder,
    get_embedder,
    reset_embedder,
)
from shared.platform.settings import reset_settings

MODEL_ID = "amazon.titan-embed-text-v2:0"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- Local -----------------------------------------------------------------------------------


def test_local_is_deterministic_and_sized():
    texts = ["Invoice 1042 is overdue.", "Hiking in the mountains", ""]
    first = LocalEmbedder(256).embed(texts)
    assert first == LocalEmbedder(256).embed(texts)
    assert [len(v) for v in first] == [256, 256, 256]
    assert len(LocalEmbedder(1024).embed(["x"])[0]) == 1024


def test_local_vectors_are_unit_length():
    texts = ["a", "the and of", "!!!", "invoice " * 50, "Ünïcödé wörds 東京 2024"]
    for vector in LocalEmbedder(256).embed(texts):
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-9)


def test_local_similarity_follows_shared_words():
    # Given a query, a text about unpaid invoices and one about hiking
    query, invoices, hiking = LocalEmbedder(256).embed(
        [
            "invoice payment overdue",
            "The customer has three unpaid invoices and the payment is overdue by 30 days.",
            "We went hiking in the mountains and camped near a quiet lake.",
        ]
    )
    # Then the query is clearly closer to the invoices
    assert cosine(query, invoices) > 0.3
    assert cosine(query, invoices) > cosine(query, hiking) + 0.2


def test_local_word_forms_are_close_and_stop_words_ignored():
    embedder = LocalEmbedder(512)
    invoice, invoices, hiking = embedder.embed(["invoice", "invoices", "hiking"])
    assert cosine(invoice, invoices) > 0.2
    assert cosine(invoice, invoices) > cosine(invoice, hiking) + 0.15
    # Case, punctuation and stop words make no difference
    a, b = embedder.embed(["The INVOICE, of the customer!", "invoice customer"])
    assert cosine(a, b) == pytest.approx(1.0)


def test_local_term_frequency_is_sublinear():
    embedder = LocalEmbedder(256)
    once, many, other = embedder.embed(["invoice hiking", "invoice " * 20 + "hiking", "hiking"])
    # Twenty "invoice" do not drown "hiking"
    assert cosine(many, other) > 0.2
    assert cosine(once, other) > cosine(many, other)


def test_local_embeds_without_numpy():
    code = (
        "import sys\n"
        "from shared.embeddings import LocalEmbedder\n"
        "LocalEmbedder(256).embed(['hello world'])\n"
        "assert 'numpy' not in sys.modules, 'numpy imported'\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# --- Settings and the getter -----------------------------------------------------------------


@pytest.fixture
def clean_settings(monkeypatch):
    for name in ("EMBEDDER", "EMBEDDING_DIMENSIONS", "BEDROCK_MODEL_ID", "EMBEDDING_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    reset_embedder()
    yield monkeypatch
    reset_settings()
    reset_embedder()


def test_default_embedder_is_static_and_cached(clean_settings):
    from shared.embeddings import StaticEmbedder

    embedder = get_embedder()
    assert isinstance(embedder, StaticEmbedder)
    assert embedder.dimensions == 256
    assert get_embedder() is embedder


def test_the_lexical_embedder_is_still_a_local_choice(clean_settings):
    clean_settings.setenv("EMBEDDER", "local")
    embedder = get_embedder()
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.dimensions == 256


def test_bedrock_embedder_from_settings(clean_settings):
    clean_settings.setenv("EMBEDDER", "bedrock")
    clean_settings.setenv("EMBEDDING_DIMENSIONS", "512")
    clean_settings.setenv("BEDROCK_MODEL_ID", "amazon.titan-embed-text-v2:0")
    clean_settings.setenv("EMBEDDING_BATCH_SIZE", "4")
    embedder = get_embedder()
    assert isinstance(embedder, BedrockEmbedder)
    assert (embedder.dimensions, embedder.batch_size, embedder.max_attempts) == (512, 4, 5)


def test_bedrock_dimensions_are_validated(clean_settings):
    clean_settings.setenv("EMBEDDER", "bedrock")
    clean_settings.setenv("EMBEDDING_DIMENSIONS", "300")
    with pytest.raises(ValueError, match="256, 512, 1024"):
        EmbeddingSettings()
    with pytest.raises(ValueError, match="dimensions"):
        BedrockEmbedder(dimensions=300)


# --- Bedrock under Stubber -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bedrock_client():
    """A real bedrock-runtime client (fake credentials); Stubber answers instead of AWS."""
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    return session.client("bedrock-runtime", config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def stubber(bedrock_client):
    with Stubber(bedrock_client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def titan_response(embedding: list[float]) -> dict[str, Any]:
    raw = json.dumps(
        {"embedding": embedding, "inputTextTokenCount": 3, "embeddingsByType": {"float": embedding}}
    ).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def titan_request(text: str, dimensions: int = 256) -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "body": json.dumps({"inputText": text, "dimensions": dimensions, "normalize": True}),
        "contentType": "application/json",
        "accept": "application/json",
    }


def bedrock(client, **kwargs) -> BedrockEmbedder:
    return BedrockEmbedder(client=client, batch_size=1, **kwargs)


def test_bedrock_sends_the_titan_v2_request(bedrock_client, stubber):
    # Given Bedrock answers two texts, in order
    stubber.add_response("invoke_model", titan_response([0.1] * 256), titan_request("first"))
    stubber.add_response("invoke_model", titan_response([0.2] * 256), titan_request("second"))
    # When they are embedded
    vectors = bedrock(bedrock_client).embed(["first", "second"])
    # Then each call carried exactly the Titan V2 body, and the vectors keep the order
    assert vectors == [[0.1] * 256, [0.2] * 256]


def test_bedrock_truncates_long_texts(bedrock_client, stubber):
    text = "word " * 20_000  # 100,000 characters
    stubber.add_response(
        "invoke_model",
        titan_response([0.0] * 512),
        titan_request(text[:TITAN_V2_MAX_CHARS], dimensions=512),
    )
    assert bedrock(bedrock_client, dimensions=512).embed([text]) == [[0.0] * 512]


class FakeBedrockServer:
    """Bedrock's InvokeModel on loopback: answers each request with the next scripted reply, so
    the retries botocore makes (standard mode, as ``shared.platform.aws`` configures it) are
    counted for real."""

    def __init__(self, replies: list[tuple[int, str | None]]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies = list(replies)
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.requests += 1
                status, error = server.replies.pop(0)
                if error is None:
                    body = json.dumps({"embedding": [0.5] * 256}).encode()
                    headers = {"content-type": "application/json"}
                else:
                    body = json.dumps({"message": "scripted"}).encode()
                    headers = {"content-type": "application/json", "x-amzn-ErrorType": error}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_bedrock(monkeypatch):
    """A scripted Bedrock on loopback behind the project's own client factory, with botocore's
    backoff sleeps made instant (its retry decisions are left as they are)."""
    from shared.platform import aws

    servers: list[FakeBedrockServer] = []

    def start(replies: list[tuple[int, str | None]]) -> FakeBedrockServer:
        server = FakeBedrockServer(replies)
        servers.append(server)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
        aws.reset()
        return server

    monkeypatch.setattr(
        "botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0
    )
    yield start
    for server in servers:
        server.close()
    aws.reset()


def test_bedrock_throttling_and_unavailability_are_retried_by_botocore(fake_bedrock):
    # Given Bedrock throttles, then is unavailable, then answers
    server = fake_bedrock(
        [(429, "ThrottlingException"), (503, "ServiceUnavailableException"), (200, None)]
    )
    # When a text is embedded with the project's client (3 attempts in all)
    vectors = BedrockEmbedder(max_attempts=3, batch_size=1).embed(["hello"])
    # Then it succeeded on the third request
    assert vectors == [[0.5] * 256]
    assert server.requests == 3


def test_bedrock_gives_up_after_max_attempts(fake_bedrock):
    # Given a model that stays not ready (a modelled retryable error)
    server = fake_bedrock([(429, "ModelNotReadyException")] * 5)
    # Then three attempts are made, and the failure names the error
    with pytest.raises(EmbeddingError, match=r"ModelNotReadyException"):
        BedrockEmbedder(max_attempts=3, batch_size=1).embed(["x"])
    assert server.requests == 3


def test_bedrock_does_not_retry_a_refusal(fake_bedrock):
    server = fake_bedrock([(403, "AccessDeniedException"), (200, None)])
    with pytest.raises(EmbeddingError, match="AccessDeniedException"):
        BedrockEmbedder(max_attempts=3, batch_size=1).embed(["x"])
    assert server.requests == 1


def test_bedrock_raises_other_errors_at_once(bedrock_client, stubber):
    stubber.add_client_error("invoke_model", "AccessDeniedException", "Not allowed", 403)
    with pytest.raises(EmbeddingError, match="AccessDeniedException") as caught:
        bedrock(bedrock_client).embed(["x"])
    assert isinstance(caught.value.__cause__, ClientError)


def test_bedrock_answer_without_an_embedding_is_an_error(bedrock_client, stubber):
    # moto's bedrock-runtime answers {}: that must fail loudly, not index garbage
    raw = b"{}"
    stubber.add_response(
        "invoke_model",
        {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"},
    )
    with pytest.raises(EmbeddingError, match="without an embedding"):
        bedrock(bedrock_client).embed(["x"])
    stubber.add_response("invoke_model", titan_response([0.1] * 1024))
    with pytest.raises(EmbeddingError, match="1024 values, not 256"):
        bedrock(bedrock_client).embed(["x"])


def test_bedrock_refuses_blank_text_without_calling():
    with pytest.raises(EmbeddingError, match="empty"):
        BedrockEmbedder(client=object()).embed(["   "])
    assert BedrockEmbedder(client=object()).embed([]) == []


# --- Bedrock: concurrency and order (a fake client: Stubber's queue is order-bound) ----------


class FakeBedrock:
    """Answers each text with a vector derived from it, slowly, and counts concurrent calls."""

    def __init__(self, *, fail_on: str | None = None, dimensions: int = 256) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.calls: list[str] = []
        self.fail_on = fail_on
        self.dimensions = dimensions

    def invoke_model(self, *, modelId, body, contentType, accept):
        assert (modelId, contentType, accept) == (MODEL_ID, "application/json", "application/json")
        text = json.loads(body)["inputText"]
        with self.lock:
            self.calls.append(text)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.01 if int(text.split()[-1]) % 3 else 0.03)  # finish out of order
            if text == self.fail_on:
                raise ClientError(
                    {"Error": {"Code": "ValidationException", "Message": "bad input"}},
                    "InvokeModel",
                )
            raw = json.dumps({"embedding": [float(text.split()[-1])] * self.dimensions}).encode()
            return {"body": io.BytesIO(raw)}
        finally:
            with self.lock:
                self.in_flight -= 1


def test_bedrock_batch_runs_concurrently_and_keeps_order():
    # Given 20 texts and a batch size of 8
    client = FakeBedrock()
    embedder = BedrockEmbedder(client=client, batch_size=8)
    texts = [f"text {i}" for i in range(20)]
    # When they are embedded
    vectors = embedder.embed(texts)
    # Then each vector belongs to its text, up to 8 calls ran at once, and no more
    assert [v[0] for v in vectors] == [float(i) for i in range(20)]
    assert sorted(client.calls) == sorted(texts)
    assert 2 <= client.peak <= 8


def test_bedrock_batch_failure_raises_and_stops_early():
    client = FakeBedrock(fail_on="text 0")
    embedder = BedrockEmbedder(client=client, batch_size=2)
    with pytest.raises(EmbeddingError, match="ValidationException"):
        embedder.embed([f"text {i}" for i in range(40)])
    assert len(client.calls) < 40  # the queued texts were cancelled


def test_unexpected_exceptions_are_not_disguised():
    class Broken:
        def invoke_model(self, **kwargs):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        BedrockEmbedder(client=Broken()).embed(["x"])


def test_embeddings_module_stays_light():
    assert "boto3" not in vars(embeddings)  # clients come from shared.platform.aws, lazily
