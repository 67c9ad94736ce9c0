"""The draws behind the rCLV intervals: a draws x customers matrix in memory or in a file.

A million customers with 200 draws is 800 MB of float32 per matrix, and `ccnb.clv.predict` keeps
two (realised and parameter-only). Above `IN_MEMORY_CUSTOMERS` customers the analysis writes
them to a file as they are drawn, one draw (row) at a time, and every reader takes a few draws
(`row_batches`) or a block of customers (`column_block`) at a time: memory grows with the
customers, never with customers x draws. Small clients keep them in memory, which is the same
object with the same answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["IN_MEMORY_CUSTOMERS", "DrawFiller", "DrawMatrix", "DrawWriter"]

#: above this many customers the analysis keeps its draws in files (see the module docstring)
IN_MEMORY_CUSTOMERS = 100_000
#: values read at once by the file-backed readers (16 MB of float32)
_READ_VALUES = 4 * 2**20


class DrawMatrix:
    """Draws x customers (float32, or uint16 counts), in memory or in a raw file, times a scale.

    Parameters
    ----------
    values : numpy.ndarray, optional
        The matrix in memory (draws, customers).
    path : str or pathlib.Path, optional
        A raw float32 file, row-major (draw by draw), instead of ``values``.
    shape : tuple of int, optional
        (draws, customers) of ``path``.
    scale : float, default 1.0
        Every value read is multiplied by it (a re-priced margin shares the file).
    dtype : numpy dtype, default float32
        Of the values (purchase counts are uint16).
    """

    def __init__(
        self, values=None, *, path=None, shape=None, scale: float = 1.0, dtype=np.float32
    ) -> None:
        if (values is None) == (path is None):
            raise ValueError("a DrawMatrix holds either values or a path")
        self.dtype = np.dtype(dtype)
        if values is not None:
            values = np.asarray(values, dtype=self.dtype)
            if values.ndim != 2:
                raise ValueError(f"draws must be a (draws, customers) matrix, got {values.shape}")
            shape = values.shape
        elif shape is None:
            raise ValueError("a file-backed DrawMatrix needs its shape")
        self._values = values
        self.path = None if path is None else Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.scale = float(scale)

    @property
    def in_memory(self) -> bool:
        """True when the matrix is held in memory, False when it is read from its file."""
        return self._values is not None

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        where = "in memory" if self.in_memory else f"in {self.path}"
        return f"<DrawMatrix {self.shape[0]} draws x {self.shape[1]} customers, {where}>"

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return values if self.scale == 1.0 else values * np.float32(self.scale)

    def _read(self, handle, offset: int, count: int) -> np.ndarray:
        handle.seek(offset * self.dtype.itemsize)
        return np.fromfile(handle, dtype=self.dtype, count=count)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Draws ``start`` to ``stop`` for every customer, (stop - start, customers)."""
        if self.in_memory:
            return self._scaled(self._values[start:stop])
        n = self.shape[1]
        with open(self.path, "rb") as handle:
            block = self._read(handle, start * n, (stop - start) * n)
        return self._scaled(block.reshape(stop - start, n))

    def row_batches(self, size: int | None = None) -> Iterator[np.ndarray]:
        """The draws a few at a time: arrays of (at most ``size``, customers).

        Parameters
        ----------
        size : int, optional
            Draws per batch; default as many as fit in 16 MB (all of them in memory).
        """
        if size is None:
            size = self.shape[0] if self.in_memory else _READ_VALUES // max(self.shape[1], 1)
        size = max(1, int(size))
        for start in range(0, self.shape[0], size):
            yield self.rows(start, min(start + size, self.shape[0]))

    def column_block(self, block: slice) -> np.ndarray:
        """Every draw of the customers in ``block`` (a slice of positions), (draws, block)."""
        if self.in_memory:
            return self._scaled(self._values[:, block])
        start, stop, _ = block.indices(self.shape[1])
        width, n = max(stop - start, 0), self.shape[1]
        result = np.empty((self.shape[0], width), dtype=self.dtype)
        with open(self.path, "rb") as handle:
            for draw in range(self.shape[0]):
                result[draw] = self._read(handle, draw * n + start, width)
        return self._scaled(result)

    def row_sums(self) -> np.ndarray:
        """Each draw summed over the customers (float64): the draws of the total."""
        return np.concatenate(
            [batch.sum(axis=1, dtype=float) for batch in self.row_batches()] or [np.empty(0)]
        )

    def take(self, positions) -> DrawMatrix:
        """The draws of the customers at ``positions``, in memory."""
        positions = np.asarray(positions, dtype=np.intp)
        if self.in_memory:
            return DrawMatrix(self._values[:, positions], scale=self.scale, dtype=self.dtype)
        taken = np.empty((self.shape[0], len(positions)), dtype=self.dtype)
        start = 0
        for batch in self.row_batches():
            taken[start : start + len(batch)] = batch[:, positions]
            start += len(batch)
        return DrawMatrix(taken, dtype=self.dtype)

    def scaled(self, factor: float) -> DrawMatrix:
        """The same draws times ``factor``: multiplied in memory, or a scale on the same file."""
        if self.in_memory:
            return DrawMatrix(self._values * np.float32(self.scale * factor), dtype=self.dtype)
        return DrawMatrix(
            path=self.path, shape=self.shape, scale=self.scale * factor, dtype=self.dtype
        )

    def delete(self) -> None:
        """Remove the file behind the matrix (nothing to do in memory)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every draw in memory (draws x customers x 4 bytes): for small clients and tests."""
        values = self.rows(0, self.shape[0])
        return values if dtype is None else values.astype(dtype)


class DrawWriter:
    """Collects the draws of `ccnb.clv.predict` one row at a time, in memory or into a file.

    Parameters
    ----------
    n_draws, n_customers : int
        The most rows, and the row length.
    path : str or pathlib.Path, optional
        The file to write (raw float32, row by row); in memory when None.
    dtype : numpy dtype, default float32
        Of the values (purchase counts are kept as uint16).
    """

    def __init__(self, n_draws: int, n_customers: int, *, path=None, dtype=np.float32) -> None:
        self.n_customers = n_customers
        self.dtype = np.dtype(dtype)
        self.path = None if path is None else Path(path)
        self.count = 0
        if self.path is None:
            self._values = np.empty((n_draws, n_customers), dtype=self.dtype)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "wb")  # closed by finish()

    def append(self, row: np.ndarray) -> None:
        """Add one draw (a value per customer)."""
        row = np.asarray(row).astype(self.dtype, copy=False)
        if self.path is None:
            self._values[self.count] = row
        else:
            self._handle.write(row.tobytes())
        self.count += 1

    def finish(self) -> DrawMatrix:
        """The rows written, as a `DrawMatrix` of the writer's dtype."""
        if self.path is not None:
            self._handle.close()
            return DrawMatrix(
                path=self.path, shape=(self.count, self.n_customers), dtype=self.dtype
            )
        return DrawMatrix(self._values[: self.count], dtype=self.dtype)


class DrawFiller:
    """Builds a `DrawMatrix` from blocks of customers (every draw of each), in memory or a file.

    Parameters
    ----------
    shape : tuple of int
        (draws, customers).
    path : str or pathlib.Path, optional
        The raw float32 file to fill; in memory when None.
    """

    def __init__(self, shape: tuple[int, int], *, path=None) -> None:
        self.shape = shape
        self.path = None if path is None else Path(path)
        if self.path is None:
            self._values = np.empty(shape, dtype=np.float32)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as handle:
                handle.truncate(shape[0] * shape[1] * 4)

    def put(self, block: slice, values: np.ndarray) -> None:
        """Every draw of the customers in ``block``: ``values`` of shape (draws, block)."""
        values = np.asarray(values, dtype=np.float32)
        if self.path is None:
            self._values[:, block] = values
            return
        n = self.shape[1]
        with open(self.path, "r+b") as handle:
            for draw, row in enumerate(values):
                handle.seek((draw * n + block.start) * 4)
                handle.write(row.tobytes())

    def finish(self) -> DrawMatrix:
        """The filled matrix."""
        if self.path is None:
            return DrawMatrix(self._values)
        return DrawMatrix(path=self.path, shape=self.shape)
