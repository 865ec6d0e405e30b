"""Prove that the static embedder loads and embeds with no network, and measure it.

    HF_HUB_OFFLINE=1 python prototype/offline_check.py          # guard + timings
    python prototype/offline_check.py --compare                 # also: same vectors as wordllama

A guard replaces ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo`` so that
any address other than loopback (127.0.0.0/8, ::1, "localhost") or a Unix socket raises, and
records every attempt; the script fails if one happened. Only then are the embedder's modules
imported. Run it inside ``unshare --net`` (no interface but a downed loopback) and under
``strace -f -e trace=connect,sendto`` for proof below Python as well.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time

ATTEMPTS: list[str] = []


def _is_loopback(host: object) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def install_guard() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: object) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            ATTEMPTS.append(f"connect {address!r}")
            raise OSError(f"network guard: connection to {address!r} refused")

    def connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not _is_loopback(host):
            ATTEMPTS.append(f"getaddrinfo {host!r}")
            raise OSError(f"network guard: name lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def chunk_texts(n: int, size: int = 800) -> list[str]:
    """``n`` distinct English texts of about ``size`` characters (varied, chunk-like)."""
    base = (
        "The quarterly invoice for the consulting work was sent to the customer on Monday, and "
        "the finance team expects payment within thirty days. Meanwhile the support desk asked "
        "every employee to reset their password before the VPN migration, because the old "
        "accounts will stop working next week. In the office kitchen the coffee machine needs "
        "descaling again, and someone left a sourdough starter in the fridge with no label. "
        "Travel expenses from the Lisbon trip still need receipts for the hotel and the taxi. "
        "The garden outside the meeting room has tomatoes ripening on the balcony, and the new "
        "parental leave policy gives sixteen weeks to every parent, by birth or by adoption. "
        "Finally, the printer on the second floor keeps jamming, so print the contract elsewhere."
    )
    words = base.split()
    texts = []
    for i in range(n):
        rotated = words[i % len(words) :] + words[: i % len(words)]
        text = f"Chunk {i}: " + " ".join(rotated)
        texts.append(text[:size])
    return texts


def main() -> int:
    install_guard()
    print(f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')!r}")
    t0 = time.perf_counter()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from static_embedder import StaticEmbedder

    t1 = time.perf_counter()
    embedder = StaticEmbedder()
    t2 = time.perf_counter()
    print(f"import {1000 * (t1 - t0):.0f} ms, load {1000 * (t2 - t1):.0f} ms")

    import numpy as np

    pairs = [
        ("unpaid bill", "The invoice is overdue and the customer has not paid"),
        ("kitten napping on the couch", "Our cat sleeps on the sofa"),
        ("unpaid bill", "Our cat sleeps on the sofa"),
    ]
    for a, b in pairs:
        va, vb = embedder.embed_array([a, b])
        print(f"  cos({a!r}, {b!r}) = {float(va @ vb):.3f}")
    empty = embedder.embed_array(["", "   "])
    print(f"  empty texts -> e0: {empty[:, 0].tolist()}, norms {np.linalg.norm(empty, axis=1)}")

    texts = chunk_texts(2000)
    print(f"chunk texts: {len(texts)} of mean {sum(map(len, texts)) / len(texts):.0f} chars")
    embedder.embed_array(texts[:64])  # warm-up
    for batch in (1, 16, 64, 256):
        t = time.perf_counter()
        for i in range(0, len(texts), batch):
            embedder.embed_array(texts[i : i + batch])
        dt = time.perf_counter() - t
        print(
            f"  batch {batch:>3}: {len(texts) / dt:,.0f} texts/s "
            f"({1e6 * dt / len(texts):.0f} us/text)"
        )
    t = time.perf_counter()
    embedder.embed(texts[:256])
    dt = time.perf_counter() - t
    print(f"  embed() as lists, batch 256: {256 / dt:,.0f} texts/s")
    short = [f"short query number {i} about invoices" for i in range(2000)]
    t = time.perf_counter()
    embedder.embed_array(short)
    print(f"  2,000 short texts in one call: {1000 * (time.perf_counter() - t):.0f} ms")

    import_names = sorted(
        m
        for m in sys.modules
        if m.split(".")[0] in {"requests", "huggingface_hub", "urllib3", "httpx", "wordllama"}
    )
    print(f"network-capable or wordllama modules imported: {import_names or 'none'}")
    if "--compare" in sys.argv:
        from safetensors import safe_open
        from static_embedder import TOKENIZER_FILE, WEIGHTS_FILE, package_dir
        from tokenizers import Tokenizer
        from wordllama import WordLlamaInference

        root = package_dir()
        with safe_open(str(root / WEIGHTS_FILE), framework="np") as f:
            matrix = f.get_tensor("embedding.weight")
        reference = WordLlamaInference(matrix, Tokenizer.from_file(str(root / TOKENIZER_FILE)))
        sample = texts[:100] + [a for a, _ in pairs] + ["Pasta recipe", "Un résumé en français"]
        ours = embedder.embed_array(sample)
        theirs = reference.embed(sample, norm=True)
        print(f"  max |ours - WordLlamaInference| = {np.abs(ours - theirs).max():.2e}")

    if ATTEMPTS:
        print(f"FAIL: network attempts: {ATTEMPTS}")
        return 1
    print("OK: no network attempt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
