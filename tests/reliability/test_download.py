"""The resumable COSMOS download against a local HTTP server that drops connections.

The server (127.0.0.1, a free port, started by the test) serves a small made-up
``COSMOS_25.2_training_sample.tar.gz`` with HTTP range support and closes the
connection part-way through the body of the first requests, as Zenodo does on the
4 GB archive (GalSim issue #1023).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from galprior.data.download import (DownloadError, cosmos_sample_name, download_cosmos,
                                    download_file, unpack_archive)

NAME = "COSMOS_25.2_training_sample"


def made_up_archive(seed: int = 0) -> bytes:
    """A tar.gz with the folder NAME holding a catalogue-like file and random 'images'."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in {"real_galaxy_catalog_25.2.fits": b"SIMPLE  =  T" + b" " * 2868,
                             "real_galaxy_images_25.2_n1.fits": rng.bytes(300_000)}.items():
            info = tarfile.TarInfo(f"{NAME}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """A range-capable HTTP server of one file that drops the first ``drops`` bodies."""

    def __init__(self, payload: bytes, drops: int = 0, drop_after: int = 40_000,
                 honour_ranges: bool = True, corrupt: bool = False):
        self.payload, self.drops, self.drop_after = payload, drops, drop_after
        self.honour_ranges, self.corrupt = honour_ranges, corrupt
        self.requests: list[str | None] = []  # the Range header of every request
        self.dropped = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                header = self.headers.get("Range")
                server.requests.append(header)
                body, start = server.payload, 0
                if server.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                if header and server.honour_ranges:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.send_header("Connection", "close")
                self.end_headers()
                if server.dropped < server.drops:
                    server.dropped += 1
                    self.wfile.write(chunk[:server.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the drop: close mid-body
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{NAME}.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def no_wait(seconds: float) -> None:
    """Back-off without waiting (the test checks the waits asked for)."""
    no_wait.calls.append(seconds)


no_wait.calls = []


def test_download_survives_three_drops_and_ends_with_a_verified_unpacked_sample(tmp_path):
    payload = made_up_archive()
    md5 = hashlib.md5(payload).hexdigest()
    with Server(payload, drops=4, drop_after=50_000) as server:
        directory = download_cosmos(tmp_path / NAME, url=server.url, md5=md5, keep_archive=True,
                                    sleep=no_wait, chunk_size=8192, timeout=10)
    assert server.dropped == 4 >= 3
    # every request after a drop asked for the bytes from where the file ended
    offsets = [int(r.removeprefix("bytes=").rstrip("-")) if r else 0 for r in server.requests]
    assert offsets == sorted(offsets) and offsets[0] == 0 and len(set(offsets)) == 5
    assert offsets[1:] == [50_000 * k for k in range(1, 5)]
    archive = tmp_path / f"{NAME}.tar.gz"
    assert archive.read_bytes() == payload
    assert not (tmp_path / f"{NAME}.tar.gz.part").exists()
    assert sorted(p.name for p in directory.iterdir()) == ["real_galaxy_catalog_25.2.fits",
                                                            "real_galaxy_images_25.2_n1.fits"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_a_killed_download_resumes_from_the_partial_file(tmp_path):
    payload = made_up_archive(1)
    target = tmp_path / "archive.tar.gz"
    (tmp_path / "archive.tar.gz.part").write_bytes(payload[:123_456])  # left by a killed job
    with Server(payload) as server:
        download_file(server.url, target, md5=hashlib.md5(payload).hexdigest(), sleep=no_wait)
    assert server.requests == ["bytes=123456-"]
    assert target.read_bytes() == payload


def test_retries_back_off_exponentially_and_give_up_naming_url_and_bytes_kept(tmp_path):
    payload = made_up_archive(2)
    no_wait.calls.clear()
    with Server(payload, drops=100, drop_after=0) as server:
        with pytest.raises(DownloadError, match=r"gave up after 3 failed requests") as err:
            download_file(server.url, tmp_path / "a.tar.gz", retries=3, backoff=0.5,
                          max_backoff=3.0, sleep=no_wait)
    assert server.url in str(err.value) and "rerun to resume" in str(err.value)
    assert no_wait.calls == [1.0, 2.0, 3.0]  # 0.5 * 2**k, capped at max_backoff
    assert not (tmp_path / "a.tar.gz").exists()


def test_a_server_ignoring_ranges_restarts_from_zero_and_still_verifies(tmp_path):
    payload = made_up_archive(3)
    with Server(payload, drops=1, honour_ranges=False) as server:
        download_file(server.url, tmp_path / "a.tar.gz", md5=hashlib.md5(payload).hexdigest(),
                      sleep=no_wait)
    assert (tmp_path / "a.tar.gz").read_bytes() == payload


def test_a_corrupted_archive_fails_its_checksum_and_leaves_nothing(tmp_path):
    payload = made_up_archive(4)
    md5 = hashlib.md5(payload).hexdigest()
    with Server(payload, drops=1, corrupt=True) as server:
        with pytest.raises(DownloadError, match=f"does not match the published {md5}"):
            download_cosmos(tmp_path / NAME, url=server.url, md5=md5, sleep=no_wait)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_size_is_refused_naming_both_sizes(tmp_path):
    payload = made_up_archive(5)
    with Server(payload) as server:
        with pytest.raises(DownloadError, match=f"announces {len(payload)} bytes, expected 10"):
            download_file(server.url, tmp_path / "a.tar.gz", expected_size=10, sleep=no_wait)


def test_a_truncated_archive_is_not_unpacked_and_the_old_folder_stays(tmp_path):
    previous = tmp_path / NAME
    previous.mkdir()
    (previous / "old.txt").write_text("earlier sample")
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(made_up_archive(6)[:2000])
    with pytest.raises(DownloadError, match="broken.tar.gz could not be unpacked"):
        unpack_archive(archive, previous)
    assert [p.name for p in previous.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["broken.tar.gz", NAME])


def test_sample_is_read_from_the_folder_name():
    assert cosmos_sample_name("/x/COSMOS_23.5_training_sample") == "23.5"
    assert cosmos_sample_name(Path("COSMOS_25.2_training_sample")) == "25.2"
    with pytest.raises(DownloadError, match="COSMOS_24_sample must end in"):
        cosmos_sample_name("/x/COSMOS_24_sample")
