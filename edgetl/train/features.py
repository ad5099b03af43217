"""On-disk HDF5 cache of backbone activations, keyed by image content and backbone config.

The frozen part of the network is the expensive part; caching its output once makes extra epochs,
re-runs and hyper-parameter changes nearly free. Keys are ``sha256(image bytes)/view``, so renaming
or moving files keeps the cache valid and editing an image invalidates only that image.
"""

from __future__ import annotations

import hashlib
import json
import os
import itertools
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.progress import track


def default_cache_dir() -> Path:
    env = os.environ.get("EDGETL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgetl" / "features"


def cache_key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    backbone_images: int = 0  # images actually pushed through the backbone (0 on a fully cached re-run)
    unreadable: list[str] = field(default_factory=list)


WAIT_MESSAGE_AFTER_S = 3.0  # a second run says why it waits once the wait is noticeable


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _CacheLock:
    """An exclusive lock beside the cache file, held while a run reads and writes it.

    HDF5's own file lock makes a second writer fail at once; before this lock that failure was taken
    for corruption and the live file deleted. Here the second run waits, and learns why.
    """

    def __init__(self, path: Path, log: Callable[[str], None]):
        self.path = path
        self.log = log
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: HDF5's own lock still refuses a second writer
            return
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise EdgetlError(f"cannot use the feature cache folder {self.path.parent} ({exc.strerror or exc}); "
                              "pass --cache DIR (or set EDGETL_CACHE) to a writable folder") from None
        started, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and time.monotonic() - started >= WAIT_MESSAGE_AFTER_S:
                    holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "another process"
                    self.log(f"feature cache {self.path.with_suffix('').name} is in use by another edgetl run "
                             f"({holder}); waiting for it to finish (Ctrl-C to stop)")
                    told = True
                time.sleep(0.2)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()}".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _open_hdf5(h5py, path: Path):
    """Open (or create) the cache; with our lock held, a file HDF5 cannot open is really damaged."""
    try:
        return h5py.File(path, "a")
    except BlockingIOError:
        # Locked by HDF5 but not by our lock: an edgetl without _CacheLock is writing it. Never delete it.
        raise EdgetlError(f"feature cache {path} is being written by another program; wait for it, or pass "
                          "--cache DIR to use another folder") from None
    except OSError:
        # Interrupted mid-write (e.g. SIGKILL): disposable, start it again rather than fail the run.
        path.unlink(missing_ok=True)
        return h5py.File(path, "a")


class FeatureCache:
    """A growable (N, *shape) float16 array plus its string keys, in one HDF5 file."""

    def __init__(self, path: Path, shape: Sequence[int], meta: dict, log: Callable[[str], None] | None = None):
        import h5py

        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _CacheLock(self.path.with_name(self.path.name + ".lock"), log or _stderr)
        self._lock.acquire()  # another edgetl run writing this cache: wait for it (its features are ours too)
        try:
            self.h5 = _open_hdf5(h5py, self.path)
        except BaseException:
            self._lock.release()
            raise
        try:
            self._prepare(h5py, meta)
        except BaseException:
            self.close()  # never keep the lock (or the file) after a failed start
            raise

    def _prepare(self, h5py, meta: dict) -> None:
        if "data" not in self.h5:
            self.h5.create_dataset("data", shape=(0, *self.shape), maxshape=(None, *self.shape), dtype="float16",
                                   chunks=(64, *self.shape))
            self.h5.create_dataset("keys", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
            self.h5.attrs["meta"] = json.dumps(meta, sort_keys=True)
        elif tuple(self.h5["data"].shape[1:]) != self.shape:
            raise EdgetlError(f"feature cache {self.path} has shape {self.h5['data'].shape[1:]}, expected {self.shape}")
        self.index = {k.decode() if isinstance(k, bytes) else k: i for i, k in enumerate(self.h5["keys"][:])}

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def get_many(self, keys: Sequence[str]) -> np.ndarray:
        rows = np.array([self.index[k] for k in keys], dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0, *self.shape), np.float16)
        data = self.h5["data"]
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py wants strictly increasing indices
        if len(unique) > 0.2 * data.shape[0]:
            block = data[: unique[-1] + 1][unique]  # one sequential read beats many scattered ones
        else:
            block = data[unique]
        return block[inverse]

    def add_many(self, keys: Sequence[str], values: np.ndarray) -> None:
        data, names = self.h5["data"], self.h5["keys"]
        start = data.shape[0]
        data.resize(start + len(keys), axis=0)
        names.resize(start + len(keys), axis=0)
        data[start:] = values.astype(np.float16)
        names[start:] = list(keys)
        for i, k in enumerate(keys):
            self.index[k] = start + i
        self.h5.flush()

    def close(self) -> None:
        try:
            self.h5.close()
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def missing_views(hashes: Sequence[str], views: int, cache: FeatureCache) -> int:
    """How many of these images' first ``views`` views the cache lacks (what a fill would compute)."""
    return sum(f"{h}/{v}" not in cache for h in hashes for v in range(views))


def extract(
    paths: Sequence[Path],
    hashes: Sequence[str],
    views: int,
    cache: FeatureCache,
    run_backbone: Callable[[np.ndarray], np.ndarray],
    load: Callable[[Path], np.ndarray],
    make_view: Callable[[np.ndarray, str, int], np.ndarray],
    batch: int = 32,
    stats: CacheStats | None = None,
    description: str = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """Return (features[n, views, *shape], ok[n]) for ``paths``, computing only what the cache lacks.

    ``ok`` is False for unreadable images; their rows are zeros and their paths go to ``stats``.
    """
    from edgetl.data.images import UnreadableImage

    stats = stats or CacheStats()
    n = len(paths)
    ok = np.ones(n, dtype=bool)
    todo = [i for i in range(n) if any(f"{hashes[i]}/{v}" not in cache for v in range(views))]
    stats.hits += (n - len(todo)) * views
    pending_keys: list[str] = []
    pending_images: list[np.ndarray] = []

    def flush():
        if not pending_images:
            return
        acts = run_backbone(np.stack(pending_images))
        cache.add_many(pending_keys, acts)
        stats.backbone_images += len(pending_images)
        pending_keys.clear()
        pending_images.clear()

    def prepare(i: int):
        """Decode and augment one image's missing views (OpenCV/PIL release the GIL: runs in threads)."""
        try:
            image = load(paths[i])
        except UnreadableImage as exc:
            return i, None, str(exc)
        views_out = [(f"{hashes[i]}/{v}", make_view(image, hashes[i], v)) for v in range(views)
                     if f"{hashes[i]}/{v}" not in cache]
        return i, views_out, None

    def prepared_in_order(lookahead: int = 2 * batch):
        """Results of ``prepare`` in order, decoding up to ``lookahead`` images ahead in threads, so
        decoding and augmentation overlap with the backbone running on the current batch."""
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
            upcoming = iter(todo)
            queue = deque(pool.submit(prepare, i) for i in itertools.islice(upcoming, lookahead))
            while queue:
                done = queue.popleft()
                following = next(upcoming, None)
                if following is not None:
                    queue.append(pool.submit(prepare, following))
                yield done.result()

    for i, prepared, error in track(prepared_in_order(), f"{description} (backbone)", total=len(todo)):
        if error is not None:
            ok[i] = False
            stats.unreadable.append(error)
            continue
        for key, view in prepared:
            if key in pending_keys:
                continue
            pending_keys.append(key)
            pending_images.append(view)
            stats.misses += 1
            if len(pending_images) >= batch:
                flush()
    flush()
    out = np.zeros((n, views, *cache.shape), np.float16)
    good = np.flatnonzero(ok)
    if good.size:
        keys = [f"{hashes[i]}/{v}" for i in good for v in range(views)]
        out[good] = cache.get_many(keys).reshape(len(good), views, *cache.shape)
    return out, ok
