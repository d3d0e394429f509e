"""Resumable, verified download of GalSim's COSMOS training samples (23.5 and 25.2).

Why our own code rather than ``galsim_download_cosmos``: GalSim's script reads the
archive in one HTTP request and starts again from zero when the connection drops
(GalSim issue #1023: the 4 GB 25.2 archive from Zenodo drops about every GB, so it may
never finish), and it unpacks straight into the target folder, so a killed unpack leaves
a folder that looks finished. Here:

- the archive is fetched into ``<archive>.part`` with HTTP ``Range`` requests; after a
  dropped connection, a timeout or a 5xx answer the next request asks for the bytes from
  the end of the partial file (``Range: bytes=<size>-``), after an exponential back-off
  (``backoff * 2**k`` seconds, at most ``max_backoff``), up to ``retries`` failed
  requests in a row (a request that brings bytes resets the count). A server that
  ignores ranges (``200`` instead of ``206``) makes it start again from zero, and says so;
- the finished file is verified against the size the server announced
  (``Content-Range``/``Content-Length``) and, where known, an MD5 checksum (Zenodo
  publishes one per file in its record metadata, :func:`zenodo_md5`); a mismatch
  deletes the partial file and raises, naming both values;
- only a verified archive is renamed from ``.part`` to its name, and it is unpacked into
  a hidden temporary folder beside the target that is renamed into place when the
  whole archive is out (``galprior.store.atomic.atomic_write``): a killed job leaves the
  partial archive (resumed by the next run) and never a half-unpacked sample folder.

Only the standard library is used (``urllib``, ``tarfile``, ``hashlib``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from galprior.progress import progress_bar
from tqdm.auto import tqdm  # the type of a bar

from galprior.store.atomic import atomic_write

__all__ = ["COSMOS_SAMPLES", "DownloadError", "cosmos_sample_name", "download_cosmos",
           "download_file", "file_md5", "unpack_archive", "zenodo_md5"]

logger = logging.getLogger(__name__)

ZENODO_RECORD = "3242143"
#: The samples GalSim publishes on Zenodo (record 3242143), by flux limit.
COSMOS_SAMPLES = {sample: f"https://zenodo.org/records/{ZENODO_RECORD}/files/"
                          f"COSMOS_{sample}_training_sample.tar.gz"
                  for sample in ("23.5", "25.2")}
ZENODO_API = f"https://zenodo.org/api/records/{ZENODO_RECORD}"
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
              socket.timeout, TimeoutError)


class DownloadError(RuntimeError):
    """A download that could not finish or whose archive failed its verification."""


@dataclass
class _Progress:
    """Bytes of the archive known so far, for the log and the progress bar."""

    total: int | None = None
    drops: int = 0
    restarts: int = 0


def cosmos_sample_name(directory: str | os.PathLike) -> str:
    """The sample ('23.5' or '25.2') of a folder named ``COSMOS_<sample>_training_sample``."""
    match = re.fullmatch(r"COSMOS_(23\.5|25\.2)_training_sample", Path(directory).name)
    if match is None:
        raise DownloadError(f"galaxies.cosmos.<product>.directory: {directory} must end in "
                            "COSMOS_23.5_training_sample or COSMOS_25.2_training_sample "
                            "(the folders of GalSim's archives) to be downloaded")
    return match.group(1)


def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_size(response, offset: int) -> int | None:
    """Size of the whole file from a 206 ``Content-Range`` or a 200 ``Content-Length``."""
    content_range = response.headers.get("Content-Range")
    if content_range:
        match = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)
        if match is None or int(match.group(1)) != offset:
            raise DownloadError(f"unexpected Content-Range {content_range!r} for a request "
                                f"from byte {offset}")
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) + offset if length is not None else None


def _fetch_once(url: str, part: Path, progress: _Progress, chunk_size: int,
                timeout: float, bar: tqdm) -> bool:
    """One request from the end of ``part``; True when the file is complete.

    Raises the transient errors of a dropped connection to the caller (after keeping
    every byte received so far).
    """
    offset = part.stat().st_size if part.exists() else 0
    if progress.total is not None and offset == progress.total:
        return True
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and progress.total is not None and offset >= progress.total:
            return True
        if 500 <= err.code < 600 or err.code == 429:
            raise ConnectionError(f"HTTP {err.code} from {url}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    with response:
        if offset and response.status == 200:
            logger.warning("%s ignored the range request: starting again from byte 0", url)
            progress.restarts += 1
            offset = 0
        total = _total_size(response, offset)
        if total is not None:
            if progress.total is not None and total != progress.total:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: the server announces {total} bytes, expected "
                                    f"{progress.total} (the published or earlier size); "
                                    f"{part} was deleted")
            progress.total = total
            bar.total = total
        bar.n = offset
        bar.refresh()
        with open(part, "r+b" if offset else "wb") as handle:
            handle.seek(offset)
            handle.truncate()
            while True:
                block = response.read(chunk_size)
                if not block:
                    break
                handle.write(block)
                bar.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
    size = part.stat().st_size
    if progress.total is None:  # no announced size: trust a clean end of the stream
        progress.total = size
    if size < progress.total:
        raise ConnectionError(f"connection closed after {size} of {progress.total} bytes")
    return True


def download_file(url: str, target: str | os.PathLike, *, md5: str | None = None,
                  expected_size: int | None = None, retries: int = 8, backoff: float = 1.0,
                  max_backoff: float = 60.0, timeout: float = 60.0, chunk_size: int = 1 << 20,
                  sleep: Callable[[float], None] = time.sleep) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming after drops.

    Parameters
    ----------
    url: the file to fetch (``http`` or ``https``).
    target: final path; written only once the file is verified.
    md5: expected hex MD5 checksum, or None to check the size only.
    expected_size: expected size in bytes, or None to trust the server's announcement.
    retries: failed requests in a row before giving up (a request that brings bytes
        resets the count).
    backoff, max_backoff: seconds to wait before retry k: ``min(backoff * 2**k, max_backoff)``.
    timeout: socket timeout of one request, seconds.
    sleep: the waiting function (tests pass a no-op).

    Returns ``target``. Raises :class:`DownloadError` naming the URL, the file and the
    values when the retries are exhausted or the verification fails.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    progress = _Progress(total=expected_size)
    failures = 0
    with progress_bar(total=expected_size, unit="B", unit_scale=True, desc=target.name,
              disable=None) as bar:
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                if _fetch_once(url, part, progress, chunk_size, timeout, bar):
                    break
            except _TRANSIENT as err:
                progress.drops += 1
                now = part.stat().st_size if part.exists() else 0
                failures = 0 if now > before else failures + 1
                if failures > retries:
                    raise DownloadError(
                        f"{url}: gave up after {retries} failed requests in a row "
                        f"({now} bytes kept in {part}; rerun to resume): {err}") from err
                wait = min(backoff * 2 ** failures, max_backoff)
                logger.warning("download of %s interrupted at byte %d (%s); resuming in %.1f s",
                               url, now, err, wait)
                sleep(wait)
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DownloadError(f"{target}: downloaded {size} bytes, expected {expected_size}; "
                            "the partial file was deleted, rerun to download again")
    if md5 is not None:
        got = file_md5(part)
        if got != md5.lower():
            part.unlink()
            raise DownloadError(f"{target}: MD5 {got} does not match the published {md5}; "
                                "the partial file was deleted, rerun to download again")
    os.replace(part, target)
    logger.info("downloaded %s: %d bytes, %d dropped connections, %d restarts from zero%s",
                target, size, progress.drops, progress.restarts,
                ", MD5 verified" if md5 else " (size verified)")
    return target


def unpack_archive(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Unpack ``archive`` (tar, tar.gz) whose single top folder is named like ``destination``.

    The archive goes into a hidden temporary folder beside ``destination``, which is then
    renamed into place (an existing ``destination`` is replaced only then). Members that
    would land outside the folder are refused (``tarfile``'s ``data`` filter).
    """
    archive, destination = Path(archive), Path(destination)

    def extract(tmp: Path) -> None:
        staging = tmp.with_name(tmp.name + "-staging")
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
            inner = staging / destination.name
            if not inner.is_dir():
                found = sorted(p.name for p in staging.iterdir())
                raise DownloadError(f"{archive} holds {found}, expected the folder "
                                    f"{destination.name}")
            inner.rename(tmp)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise DownloadError(f"{archive} could not be unpacked ({err}): delete it and "
                                "rerun to download it again") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return atomic_write(destination, extract)


def zenodo_md5(file_name: str, api_url: str = ZENODO_API, timeout: float = 60.0) -> str | None:
    """The MD5 Zenodo publishes for ``file_name`` of the record, or None if unreachable."""
    try:
        with urllib.request.urlopen(api_url, timeout=timeout) as response:
            record = json.load(response)
    except (*_TRANSIENT, ValueError) as err:
        logger.warning("no checksum from %s (%s): verifying the size only", api_url, err)
        return None
    for entry in record.get("files", []):
        if entry.get("key") == file_name and str(entry.get("checksum", "")).startswith("md5:"):
            return entry["checksum"][4:]
    logger.warning("%s lists no MD5 for %s: verifying the size only", api_url, file_name)
    return None


def download_cosmos(directory: str | os.PathLike, *, url: str | None = None,
                    md5: str | None = None, keep_archive: bool = False, **options) -> Path:
    """Download, verify and unpack the COSMOS sample named by ``directory``'s name.

    ``directory`` ends in ``COSMOS_<sample>_training_sample`` (23.5 or 25.2); the archive
    is kept beside it as ``<name>.tar.gz`` (``.part`` while incomplete) and deleted after
    the unpack unless ``keep_archive``. ``url`` and ``md5`` default to GalSim's Zenodo
    record; ``options`` go to :func:`download_file`.
    """
    directory = Path(directory).expanduser()
    sample = cosmos_sample_name(directory)
    url = url or COSMOS_SAMPLES[sample]
    archive = directory.with_name(directory.name + ".tar.gz")
    if md5 is None and url == COSMOS_SAMPLES[sample]:
        md5 = zenodo_md5(archive.name)
    if not archive.exists():
        download_file(url, archive, md5=md5, **options)
    elif md5 is not None and file_md5(archive) != md5:
        archive.unlink()
        raise DownloadError(f"{archive} does not match the published MD5 {md5}: deleted, "
                            "rerun to download it again")
    unpack_archive(archive, directory)
    if not keep_archive:
        archive.unlink()
    logger.info("COSMOS %s sample ready in %s", sample, directory)
    return directory


def main(argv: list[str] | None = None) -> None:
    """``python -m galprior.data.download resources/COSMOS_25.2_training_sample``."""
    import argparse

    parser = argparse.ArgumentParser(description="Download, verify and unpack a GalSim COSMOS "
                                                 "sample (resumable; rerun after a drop or a kill).")
    parser.add_argument("directory", help="target folder, ending in COSMOS_25.2_training_sample "
                                          "or COSMOS_23.5_training_sample")
    parser.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    download_cosmos(args.directory, keep_archive=args.keep_archive)


if __name__ == "__main__":
    main()
