"""Writing the zarr dataset: a streaming writer that builds it under the dataset's lock at a temporary path, verifies
it and publishes it atomically (the schema and the reader: :mod:`pipeline.collect.dataset`)."""

from __future__ import annotations

from contextlib import ExitStack, suppress
from pathlib import Path
from types import TracebackType

import numpy as np
import zarr

from pipeline.collect.dataset import PER_FRAME, SCHEMA_VERSION, DatasetError, RolloutData, verify_dataset
from pipeline.errors import disk_error
from pipeline.io import exclusive, partial_path, publish, remove


class DatasetWriter:
    """Build the zarr group at a temporary path under the dataset's write lock, append whole episodes, publish.

    ``with DatasetWriter(...) as w: ...; w.close()``: entering takes the lock (a second writer fails at once, a dead
    writer's leftovers are cleaned) and starts an empty temporary group; leaving without a successful :meth:`close`
    (an exception, Ctrl-C, a full disk) removes it. The published dataset changes only in :meth:`close`.

    :param path: final dataset path
    :param n_frames: total frames N (known up front)
    :param image_size: frame size S
    :param chunk_frames: chunk length along N
    :param attrs: dataset attributes (:data:`REQUIRED_ATTRS` minus the schema version)
    :param compress: zstd-compress the arrays
    """

    def __init__(
        self, path: Path, n_frames: int, image_size: int, chunk_frames: int, attrs: dict, compress: bool = True
    ) -> None:
        self.final, self.tmp = Path(path), partial_path(Path(path))
        self.n_frames, self.cursor, self.published = n_frames, 0, False
        self._spec = (image_size, chunk_frames, {} if compress else {"compressors": None})
        self.attrs = {"schema_version": SCHEMA_VERSION, **attrs}
        self.group: zarr.Group | None = None
        self._lock = ExitStack()

    def __enter__(self) -> DatasetWriter:
        self._lock.enter_context(exclusive(self.final))
        try:
            remove(self.tmp)  # the lock is ours: anything there is a dead writer's
            self.group = zarr.open_group(str(self.tmp), mode="w", zarr_format=3)
            self.group.attrs.update(self.attrs)
            size, chunk, codecs = self._spec
            for name, (shape_fn, dtype) in PER_FRAME.items():
                shape, chunks = (self.n_frames, *shape_fn(size)), (chunk, *shape_fn(size))
                self.group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0, **codecs)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._lock:  # released last
            if not self.published:  # on a first error, a failed cleanup is left to the next run (under the lock)
                with suppress(*((OSError,) if exc is not None else ())):
                    remove(self.tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # e.g. write() in zarr, here or in a worker
            known = disk_error(OSError(exc.errno, exc.strerror, str(self.final)))
            if known is not None:
                raise known from exc

    def _open(self) -> zarr.Group:
        if self.group is None:
            raise RuntimeError("use DatasetWriter as a context manager: `with DatasetWriter(...) as writer:`")
        return self.group

    def write(self, block: dict[str, np.ndarray]) -> None:
        """Append a block of consecutive frames (all arrays of :data:`PER_FRAME`)."""
        write_region(self._open(), self.cursor, block)
        self.cursor += len(block["episode"])

    def written_elsewhere(self, n: int) -> None:
        """Count frames that worker processes wrote straight into the temporary group."""
        self.cursor += n

    def close(self) -> Path:
        """Check completeness and consistency (:func:`verify_dataset`), then publish at the final path."""
        group = self._open()
        try:
            if self.cursor != self.n_frames:
                raise DatasetError(f"wrote {self.cursor} of {self.n_frames} frames")
            verify_dataset(group, self.tmp)
        except DatasetError as exc:
            remove(self.tmp)
            raise DatasetError(
                f"not published, the new data failed verification ({exc.what})",
                self.final,
                "run the stage again (nothing published was changed)",
            ) from exc
        publish(self.tmp, self.final)
        self.published = True
        return self.final


def write_region(group: zarr.Group, start: int, block: dict[str, np.ndarray]) -> None:
    """Write consecutive frames at ``start``; callers keep regions chunk-aligned across processes."""
    n = len(block["episode"])
    for name in PER_FRAME:
        group[name][start : start + n] = block[name]


def write_dataset(data: RolloutData, path: Path | str, chunk_frames: int | None = None) -> Path:
    """Write an in-memory dataset (e.g. imported from HDF5) atomically, under the dataset's write lock."""
    attrs = {k: v for k, v in data.attrs.items() if k != "schema_version"}
    chunk = chunk_frames or int(attrs.get("frames_per_episode", 51)) * 4
    with DatasetWriter(Path(path), len(data), int(attrs["image_size"]), min(chunk, len(data)), attrs) as writer:
        writer.write(data.arrays)
        return writer.close()
