"""Native Hamming-distance kernels of photomatch (built from rust/ by maturin).

A hash of ``64 * W`` bits is stored as one row of ``W`` ``uint64`` words, so a
set of hashes is a C-contiguous ``uint64`` array of shape ``(rows, W)``.
"""

import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def hamming_topk(
    queries: npt.NDArray[np.uint64],
    album: npt.NDArray[np.uint64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """For each query hash, the ``k`` album hashes nearest in Hamming distance.

    Args:
        queries: ``uint64`` array of shape ``(Q, W)``, C-contiguous.
        album: ``uint64`` array of shape ``(N, W)``, C-contiguous, same ``W``.
        k: number of neighbours wanted, at least 1; ``k > N`` means all rows.

    Returns:
        ``(indices, distances)``: ``int64`` album row indices and ``uint32``
        distances, both of shape ``(Q, min(k, N))``. Each row is sorted by
        ``(distance, album row index)``, so ties come out in album order and
        the result does not depend on the number of threads. An empty album
        (``N == 0``) gives arrays of shape ``(Q, 0)``.

    Raises:
        ValueError: an input is not a 2-D C-contiguous native ``uint64``
            ndarray, has no words per row, the two ``W`` differ, or ``k < 1``.

    The GIL is released while the kernel runs; it uses the rayon thread pool
    (size: ``RAYON_NUM_THREADS``, default one thread per CPU).
    """

def hamming_topk_shards(
    queries: npt.NDArray[np.uint64],
    shards: Sequence[npt.NDArray[np.uint64]],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """:func:`hamming_topk` over an album held as several arrays, not concatenated.

    Args:
        queries: ``uint64`` array of shape ``(Q, W)``, C-contiguous.
        shards: ``uint64`` arrays of shape ``(N_s, W)``, C-contiguous, same ``W``
            (empty ones too); their rows are numbered on through the shards in
            order (shard ``s`` starts at the total rows of the shards before it).
        k: number of neighbours wanted, at least 1.

    Returns:
        ``(indices, distances)`` of shape ``(Q, min(k, sum N_s))``: global rows,
        equal to :func:`hamming_topk` on the concatenated shards, ties included.

    Raises:
        ValueError: ``shards`` is not iterable, or as for :func:`hamming_topk`
            for the queries or any shard.

    The GIL is released while the kernel runs; the chunks of all shards share
    each query's bound on its k-th distance.
    """

def hamming_distances(
    queries: npt.NDArray[np.uint64],
    album: npt.NDArray[np.uint64],
) -> npt.NDArray[np.uint32]:
    """All Hamming distances between ``queries`` and ``album``.

    Args:
        queries: ``uint64`` array of shape ``(Q, W)``, C-contiguous.
        album: ``uint64`` array of shape ``(N, W)``, C-contiguous, same ``W``.

    Returns:
        ``uint32`` array of shape ``(Q, N)``; entry ``[i, j]`` is the number of
        bits that differ between ``queries[i]`` and ``album[j]``.

    Raises:
        ValueError: as for :func:`hamming_topk`.

    The GIL is released while the kernel runs.
    """

def area_resize(
    grey: npt.NDArray[np.uint8] | npt.NDArray[np.float32] | npt.NDArray[np.float64],
    out_h: int,
    out_w: int,
    scale: float | None = None,
) -> npt.NDArray[np.float32]:
    """Area-average a grey image to ``(out_h, out_w)``, as ``float32``.

    Args:
        grey: ``uint8``, ``float32`` or ``float64`` array of shape ``(H, W)``,
            C-contiguous (read as it is: the result is the same for all three).
        out_h: output height in pixels.
        out_w: output width in pixels.
        scale: without it, the whole image maps onto the output; with it, both
            axes shrink by exactly ``scale`` from the top-left corner.

    Returns:
        ``float32`` array of shape ``(out_h, out_w)``.

    Raises:
        ValueError: ``grey`` is not a 2-D C-contiguous native ``uint8``,
            ``float32`` or ``float64`` ndarray, it or the output has no
            pixels, ``scale`` is not a positive finite number, or the output
            would be too large.

    The GIL is released while the kernel runs.
    """

def fine_detail(
    image: npt.NDArray[np.uint8] | npt.NDArray[np.float32] | npt.NDArray[np.float64],
    radius: int,
) -> npt.NDArray[np.float64]:
    """Each pixel of ``image`` less the mean of the ``2 radius + 1`` square
    around it (edges replicated), as ``float64`` of the same shape.

    Args:
        image: ``uint8``, ``float32`` or ``float64`` array of shape ``(H, W)``,
            C-contiguous.
        radius: the square's half side, at most 64.

    Raises:
        ValueError: ``image`` is not a 2-D C-contiguous native ``uint8``,
            ``float32`` or ``float64`` ndarray, has no pixels, or ``radius``
            is over 64.

    The GIL is released while the kernel runs.
    """

def quantiles(values: npt.NDArray[np.float64], qs: Sequence[float]) -> npt.NDArray[np.float64]:
    """The quantiles of ``values`` at levels ``qs``, numpy's
    ``quantile(values, qs)`` with its default linear method, to the bit.

    Args:
        values: ``float64`` array of shape ``(n,)``, C-contiguous, n >= 1,
            no NaN.
        qs: levels, each in [0, 1].

    Returns:
        ``float64`` array of shape ``(len(qs),)``.

    Raises:
        ValueError: an empty sample, a NaN in it, or a level outside [0, 1].

    The GIL is released while the kernel runs.
    """

def tile_stats(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    tiles: int,
    keep: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]:
    """Per tile of a ``tiles`` x ``tiles`` grid over ``a`` and ``b`` (tile
    ``(i, j)`` spans rows ``i h // tiles`` to ``(i + 1) h // tiles`` and
    likewise columns), counting only the pixels where ``keep`` is non-zero
    (every pixel without it): pixels in the tile, pixels kept, the population
    standard deviation of ``a`` and of ``b``, and their zero-mean normalised
    correlation (0 when either is flat; NaN, like both deviations, for a tile
    that keeps no pixel).

    Args:
        a, b: ``float64`` arrays of one shape ``(H, W)``, C-contiguous.
        tiles: tiles per side, at least 1.
        keep: optional ``uint8`` array of the same shape.

    Returns:
        ``float64`` array of shape ``(tiles * tiles, 5)``, tiles row-major.

    Raises:
        ValueError: an array is not a 2-D C-contiguous native array of its
            dtype, the shapes differ, or there are no pixels or no tiles.

    The GIL is released while the kernel runs.
    """

def ncc_map(
    image: npt.NDArray[np.float32],
    template: npt.NDArray[np.float32],
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    min_std: float,
) -> npt.NDArray[np.float64]:
    """The normalised cross-correlation of ``template`` with the window of
    ``image`` at each top-left placement, rows ``y0:y1`` x columns ``x0:x1``.

    Args:
        image: ``float32`` array of shape ``(h, w)``, C-contiguous.
        template: ``float32`` array of shape ``(th, tw)``, C-contiguous.
        y0, y1, x0, x1: the placements (half-open ranges, none empty); every
            one must keep the template inside the image.
        min_std: a window (or the template) flatter than this many grey
            levels of standard deviation counts as that flat (a flat template
            scores 0 everywhere).

    Returns:
        ``float64`` array of shape ``(y1 - y0, x1 - x0)``, within [-1, 1].

    Raises:
        ValueError: an array is not a 2-D C-contiguous native ``float32``
            ndarray, or has no pixels, or the placements are empty or put the
            template outside the image.

    Sums and products in f64. The GIL is released while the kernel runs.
    """

#: Long side of an album overview, in pixels (part of the index format).
OVERVIEW_SIDE: int

def overview(grey: npt.NDArray[np.uint8]) -> bytes:
    """The overview of an upright grey frame, for the coarse look.

    Args:
        grey: ``uint8`` array of shape ``(H, W)``, C-contiguous, at least one pixel.

    Returns:
        The area averages of ``grey`` at :func:`overview_shape` ``(H, W)``,
        rounded to whole grey levels, as row-major bytes (a frame no larger
        than ``OVERVIEW_SIDE`` is returned as it is).

    Raises:
        ValueError: ``grey`` is not a 2-D C-contiguous native ``uint8``
            ndarray, or has no pixels.

    The embedded-preview path (:func:`preview_hashes`) makes its overviews
    with the same function. The GIL is released while it runs.
    """

def overview_shape(h: int, w: int) -> tuple[int, int]:
    """``(height, width)`` of the overview of an ``h`` x ``w`` frame: the long
    side shrunk to ``OVERVIEW_SIDE`` (never enlarged), the short one in
    proportion, rounded half up, at least 1."""

def best_ncc(
    images: npt.NDArray[np.uint8],
    height: int,
    width: int,
    templates: Sequence[npt.NDArray[np.float64]],
) -> npt.NDArray[np.float32]:
    """For each image, the best normalised cross-correlation of any of the
    ``templates`` at any whole-pixel placement inside it.

    Args:
        images: ``uint8`` array of shape ``(n, height * width)``, C-contiguous:
            ``n`` images of ``height`` x ``width``, row-major, one per row.
        height: the images' height in pixels.
        width: their width.
        templates: ``float64`` arrays of shape ``(th, tw)``, C-contiguous, each
            no larger than the images. Each image's integral images are made
            once for all of them.

    Returns:
        ``float32`` array of shape ``(n,)``, each in [0, 1]; 0 where a template
        or every placement is flat (no variance), and when no template is given.

    Raises:
        ValueError: an input has the wrong dtype, shape or layout, an image or
            the template has no pixels, or the template does not fit.

    The GIL is released while the kernel runs; it uses the rayon thread pool.
    """

def preview_hashes(
    paths: Sequence[str | os.PathLike[str]],
    *,
    max_pixels: int,
    max_preview_pixels: int,
    box_size: int,
    aspect_tolerance: float,
    band_deviation: float,
    min_short_side: int,
    min_long_side: int,
    threads: int = 0,
) -> list[tuple[bytes, bytes, int, int, bytes] | None]:
    """The embedded EXIF preview of each JPEG in ``paths``, hashed for the album.

    The rows ``hashing.hash_grey(preview.read_preview(path, max_pixels,
    box_size), album=True)`` gives, or None where this path declines the file
    (no preview, or anything it is not sure to read as Pillow does; the caller
    then runs the Python path). Files are only read, and only their headers.

    Returns:
        One item per path: None, or ``(rows, view_ids, width, height,
        overview)``: the ``(V, 2)`` uint64 rows as ``V * 16`` little-endian
        bytes, ``V`` view ids (indices into ``hashing.VIEW_NAMES``), the
        upright preview's size and its :func:`overview`.

    Raises:
        ValueError: ``box_size`` is 0, or a tolerance is negative or not finite.

    The GIL is released while it runs; ``threads`` 0 uses the rayon pool of the
    other kernels, 1 the calling thread, n a pool of n threads.
    """

def rayon_threads() -> int:
    """Number of threads in the rayon pool that the kernels run on."""
