//! Python bindings (the only module that touches pyo3 / numpy).
//!
//! Inputs are taken as plain objects and checked here, rather than declared
//! as `PyReadonlyArray2<u64>` parameters, so that every kind of bad input
//! (not an array, wrong dtype, wrong number of dimensions, strided) raises a
//! `ValueError` naming the argument; pyo3's own extraction would raise a
//! `TypeError` with a generic message for some of them. Valid inputs are then
//! read in place (no copy) and the GIL is released while the kernel runs.

use numpy::ndarray::Array2;
use numpy::prelude::*;
use numpy::{dtype, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

use crate::detail;
use crate::hamming::{self, KernelError};
use crate::ncc::{self, NccError};
use crate::preview::{self, PreviewLimits};
use crate::quantiles::QuantileError;
use crate::resize::{self, ResizeError};
use crate::slide::{self, SlideError};
use crate::tiles::{self, TileError, TILE_FIELDS};

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

/// A validated `(rows, words)` C-contiguous uint64 array, borrowed read-only.
struct Hashes<'py> {
    array: PyReadonlyArray2<'py, u64>,
    rows: usize,
    words: usize,
}

impl Hashes<'_> {
    fn as_slice(&self, name: &str) -> PyResult<&[u64]> {
        // Cannot fail after the checks in `hashes`; kept as an error, not a panic.
        self.array
            .as_slice()
            .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
    }
}

impl From<ResizeError> for PyErr {
    fn from(err: ResizeError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

impl From<NccError> for PyErr {
    fn from(err: NccError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

impl From<SlideError> for PyErr {
    fn from(err: SlideError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

impl From<QuantileError> for PyErr {
    fn from(err: QuantileError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

impl From<TileError> for PyErr {
    fn from(err: TileError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

fn value_error(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

/// `obj` as a read-only, C-contiguous, aligned 2-D array of `T` in native byte
/// order, with its shape; otherwise a ValueError naming `name` and what it must be
/// (`dtype`, `axes`: e.g. "uint64", "(rows, words)").
fn array_2d<'py, T: numpy::Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    dtype_name: &str,
    axes: &str,
) -> PyResult<(PyReadonlyArray2<'py, T>, usize, usize)> {
    let py = obj.py();
    let Ok(array) = obj.cast::<PyUntypedArray>() else {
        return Err(value_error(format!(
            "{name} must be a numpy.ndarray of dtype {dtype_name} with shape {axes}, got {}",
            obj.get_type().name()?
        )));
    };
    if array.ndim() != 2 {
        return Err(value_error(format!(
            "{name} must be a 2-D array of shape {axes}, got a {}-D array of shape {:?}",
            array.ndim(),
            array.shape()
        )));
    }
    let found = array.dtype();
    if !found.is_equiv_to(&dtype::<T>(py)) {
        return Err(value_error(format!(
            "{name} must have dtype {dtype_name} (native byte order), got {found}"
        )));
    }
    if !array.is_c_contiguous() {
        return Err(value_error(format!(
            "{name} must be C-contiguous; pass numpy.ascontiguousarray({name})"
        )));
    }
    if !array.is_aligned() {
        return Err(value_error(format!(
            "{name} is not aligned in memory; pass a copy ({name}.copy())"
        )));
    }
    let (rows, cols) = (array.shape()[0], array.shape()[1]);
    let array = array
        .cast::<PyArray2<T>>()?
        .try_readonly()
        .map_err(|e| value_error(format!("{name} cannot be read: {e}")))?;
    Ok((array, rows, cols))
}

fn hashes<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Hashes<'py>> {
    let (array, rows, words) = array_2d::<u64>(obj, name, "uint64", "(rows, words)")?;
    if words == 0 {
        return Err(value_error(format!(
            "{name} must have at least one uint64 word per row, got shape ({rows}, 0)"
        )));
    }
    Ok(Hashes { array, rows, words })
}

/// Checks both inputs and that their rows are packed alike.
fn pair<'py>(
    queries: &Bound<'py, PyAny>,
    album: &Bound<'py, PyAny>,
) -> PyResult<(Hashes<'py>, Hashes<'py>)> {
    let (q, a) = (hashes(queries, "queries")?, hashes(album, "album")?);
    if q.words != a.words {
        return Err(value_error(format!(
            "queries has {} uint64 words per row but album has {}; both must hold hashes of the same size",
            q.words, a.words
        )));
    }
    Ok((q, a))
}

/// `(indices, distances)` as returned to Python.
type TopkArrays<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<u32>>);

/// For each query hash, the k album hashes nearest in Hamming distance.
///
/// queries: uint64 array of shape (Q, W), C-contiguous.
/// album: uint64 array of shape (N, W), C-contiguous.
/// k: number of neighbours wanted, at least 1.
///
/// Returns (indices, distances): int64 and uint32 arrays of shape
/// (Q, min(k, N)). Each row is sorted by (distance, album row index), so
/// ties come out in album order and the result does not depend on the
/// number of threads. An empty album gives arrays of shape (Q, 0).
/// Raises ValueError for any invalid input. Releases the GIL while it runs.
#[pyfunction]
#[pyo3(signature = (queries, album, k))]
fn hamming_topk<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    album: &Bound<'py, PyAny>,
    k: i64,
) -> PyResult<TopkArrays<'py>> {
    let (q, a) = pair(queries, album)?;
    if k < 1 {
        return Err(value_error(format!("k must be at least 1, got {k}")));
    }
    // k beyond the album size means "all rows"; saturate rather than fail on
    // 32-bit platforms.
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let (qs, al) = (q.as_slice("queries")?, a.as_slice("album")?);
    let w = q.words;
    let (indices, distances) = py.detach(|| hamming::hamming_topk(qs, al, w, k))?;
    let shape = (q.rows, k.min(a.rows));
    Ok((into_2d(py, shape, indices)?, into_2d(py, shape, distances)?))
}

/// hamming_topk over an album held as several arrays (shards), not concatenated.
///
/// queries: uint64 array of shape (Q, W), C-contiguous.
/// shards: a sequence of uint64 arrays of shape (N_s, W), C-contiguous (empty
/// ones too); their rows are numbered on through the shards in order.
/// k: number of neighbours wanted, at least 1.
///
/// Returns (indices, distances) of shape (Q, min(k, sum N_s)): global rows,
/// equal to hamming_topk on the concatenated shards, ties included. Raises
/// ValueError for any invalid input. Releases the GIL while it runs.
#[pyfunction]
#[pyo3(signature = (queries, shards, k))]
fn hamming_topk_shards<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    shards: &Bound<'py, PyAny>,
    k: i64,
) -> PyResult<TopkArrays<'py>> {
    let q = hashes(queries, "queries")?;
    let Ok(items) = shards.try_iter() else {
        return Err(value_error(format!(
            "shards must be a sequence of uint64 arrays, got {}",
            shards.get_type().name()?
        )));
    };
    let mut held = Vec::new();
    for (i, item) in items.enumerate() {
        let name = format!("shards[{i}]");
        let shard = hashes(&item?, &name)?;
        if shard.words != q.words {
            return Err(value_error(format!(
                "queries has {} uint64 words per row but {name} has {}; all must hold hashes of the same size",
                q.words, shard.words
            )));
        }
        held.push(shard);
    }
    if k < 1 {
        return Err(value_error(format!("k must be at least 1, got {k}")));
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let qs = q.as_slice("queries")?;
    let slices = held
        .iter()
        .map(|s| s.as_slice("shards"))
        .collect::<PyResult<Vec<&[u64]>>>()?;
    let n: usize = held.iter().map(|s| s.rows).sum();
    let w = q.words;
    let (indices, distances) = py.detach(|| hamming::hamming_topk_shards(qs, &slices, w, k))?;
    let shape = (q.rows, k.min(n));
    Ok((into_2d(py, shape, indices)?, into_2d(py, shape, distances)?))
}

/// All Hamming distances between queries and album.
///
/// queries: uint64 array of shape (Q, W); album: uint64 array of shape
/// (N, W); both C-contiguous. Returns a uint32 array of shape (Q, N).
/// Raises ValueError for any invalid input. Releases the GIL while it runs.
#[pyfunction]
#[pyo3(signature = (queries, album))]
fn hamming_distances<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    album: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let (q, a) = pair(queries, album)?;
    let (qs, al) = (q.as_slice("queries")?, a.as_slice("album")?);
    let w = q.words;
    let distances = py.detach(|| hamming::hamming_distances(qs, al, w))?;
    into_2d(py, (q.rows, a.rows), distances)
}

/// Area-average a grey image to `(out_h, out_w)`, as float32.
///
/// grey: uint8, float32 or float64 array of shape (H, W), C-contiguous.
/// Without `scale` the whole image maps onto the output; with it, both axes
/// shrink by exactly `scale` from the top-left corner. Raises ValueError for
/// any invalid input. Releases the GIL while it runs.
#[pyfunction]
#[pyo3(signature = (grey, out_h, out_w, scale=None))]
fn area_resize<'py>(
    py: Python<'py>,
    grey: &Bound<'py, PyAny>,
    out_h: usize,
    out_w: usize,
    scale: Option<f64>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let is = |wanted: Bound<'py, numpy::PyArrayDescr>| {
        grey.cast::<PyUntypedArray>()
            .is_ok_and(|a| a.dtype().is_equiv_to(&wanted))
    };
    let out = if is(dtype::<u8>(py)) {
        resize_any::<u8>(py, grey, out_h, out_w, scale, "uint8")?
    } else if is(dtype::<f32>(py)) {
        resize_any::<f32>(py, grey, out_h, out_w, scale, "float32")?
    } else {
        // Anything else is refused with the error message of float64.
        resize_any::<f64>(py, grey, out_h, out_w, scale, "uint8, float32 or float64")?
    };
    into_2d(py, (out_h, out_w), out)
}

fn resize_any<'py, T: numpy::Element + Copy + Into<f64>>(
    py: Python<'py>,
    grey: &Bound<'py, PyAny>,
    out_h: usize,
    out_w: usize,
    scale: Option<f64>,
    dtype_name: &str,
) -> PyResult<Vec<f32>> {
    let (array, h, w) = array_2d::<T>(grey, "grey", dtype_name, "(height, width)")?;
    let src = array
        .as_slice()
        .map_err(|e| value_error(format!("grey: {e}")))?;
    Ok(py.detach(|| resize::area_resize(src, h, w, out_h, out_w, scale))?)
}

/// Fine detail of `image`: each pixel less the mean of the `(2 radius + 1)`
/// square around it, edges replicated (see `detail`).
///
/// image: a uint8, float32 or float64 array of shape (h, w).
///
/// Returns a float64 array of the same shape. Raises ValueError for any
/// invalid input. Releases the GIL while it runs.
#[pyfunction]
fn fine_detail<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    radius: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let is = |wanted: Bound<'py, numpy::PyArrayDescr>| {
        image
            .cast::<PyUntypedArray>()
            .is_ok_and(|a| a.dtype().is_equiv_to(&wanted))
    };
    let (out, shape) = if is(dtype::<u8>(py)) {
        detail_any::<u8>(py, image, radius, "uint8")?
    } else if is(dtype::<f32>(py)) {
        detail_any::<f32>(py, image, radius, "float32")?
    } else {
        detail_any::<f64>(py, image, radius, "uint8, float32 or float64")?
    };
    into_2d(py, shape, out)
}

fn detail_any<'py, T: numpy::Element + Copy + Into<f64>>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    radius: usize,
    dtype_name: &str,
) -> PyResult<(Vec<f64>, (usize, usize))> {
    let (array, h, w) = array_2d::<T>(image, "image", dtype_name, "(height, width)")?;
    let src = array
        .as_slice()
        .map_err(|e| value_error(format!("image: {e}")))?;
    let out = py
        .detach(|| detail::fine_detail(src, h, w, radius))
        .map_err(|e| value_error(e.to_string()))?;
    Ok((out, (h, w)))
}

/// The quantiles of `values` at levels `qs` (each in [0, 1]), as numpy's
/// `quantile(values, qs)` gives them with its default linear method, to the bit.
///
/// values: a C-contiguous float64 array of shape (n,), n >= 1, no NaN.
///
/// Returns a float64 array of shape (len(qs),). Raises ValueError for any
/// invalid input. Releases the GIL while it runs.
#[pyfunction]
fn quantiles<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    qs: Vec<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let sample = values
        .as_slice()
        .map_err(|e| value_error(format!("values: {e}")))?;
    let out = py.detach(|| crate::quantiles::quantiles(sample, &qs))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Per tile of a `tiles x tiles` grid over pictures `a` and `b` (float64, one
/// shape), counting only the pixels where `keep` (uint8, the same shape) is
/// non-zero, or every pixel without it: pixels in the tile, pixels kept, the
/// standard deviation of `a` and of `b`, their correlation (see `tiles`).
///
/// Returns a float64 array of shape (tiles * tiles, 5), tiles in row-major
/// order. Raises ValueError for any invalid input. Releases the GIL while it
/// runs.
#[pyfunction]
#[pyo3(signature = (a, b, tiles, keep=None))]
fn tile_stats<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    tiles: usize,
    keep: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (a, h, w) = array_2d::<f64>(a, "a", "float64", "(h, w)")?;
    let (b, bh, bw) = array_2d::<f64>(b, "b", "float64", "(h, w)")?;
    if (bh, bw) != (h, w) {
        return Err(value_error(format!(
            "a and b must have one shape, got ({h}, {w}) and ({bh}, {bw})"
        )));
    }
    let keep = match keep {
        None => None,
        Some(k) => {
            let (k, kh, kw) = array_2d::<u8>(k, "keep", "uint8", "(h, w)")?;
            if (kh, kw) != (h, w) {
                return Err(value_error(format!(
                    "keep must have the shape of a, ({h}, {w}), got ({kh}, {kw})"
                )));
            }
            Some(k)
        }
    };
    let (a, b) = (
        a.as_slice().map_err(|e| value_error(format!("a: {e}")))?,
        b.as_slice().map_err(|e| value_error(format!("b: {e}")))?,
    );
    let keep = match &keep {
        None => None,
        Some(k) => Some(
            k.as_slice()
                .map_err(|e| value_error(format!("keep: {e}")))?,
        ),
    };
    let out = py.detach(|| tiles::tile_stats(a, b, h, w, tiles, keep))?;
    into_2d(py, (tiles * tiles, TILE_FIELDS), out)
}

/// The normalised cross-correlation of `template` with the window of `image`
/// at each top-left placement rows `y0..y1` x columns `x0..x1` (a window or
/// template flatter than `min_std` grey levels counts as that flat).
///
/// image, template: float32 arrays of shape (h, w) and (th, tw), C-contiguous.
///
/// Returns a float64 array of shape (y1 - y0, x1 - x0). Raises ValueError for
/// any invalid input (a placement that puts the template outside the image
/// included). Releases the GIL while it runs.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn ncc_map<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    template: &Bound<'py, PyAny>,
    y0: usize,
    y1: usize,
    x0: usize,
    x1: usize,
    min_std: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (image, h, w) = array_2d::<f32>(image, "image", "float32", "(h, w)")?;
    let (template, th, tw) = array_2d::<f32>(template, "template", "float32", "(th, tw)")?;
    let pixels = image
        .as_slice()
        .map_err(|e| value_error(format!("image: {e}")))?;
    let values = template
        .as_slice()
        .map_err(|e| value_error(format!("template: {e}")))?;
    let (rows, cols) = (y0..y1, x0..x1);
    let shape = (rows.len(), cols.len());
    let out = py.detach(|| ncc::ncc_map(pixels, h, w, values, th, tw, rows, cols, min_std))?;
    into_2d(py, shape, out)
}

/// For each image, the highest normalised cross-correlation of any of the
/// `templates` at any whole-pixel placement inside it (0 where a placement or
/// a template is flat, and when no template is given).
///
/// images: uint8 array of shape (n, height * width), C-contiguous: n images
/// of `height` x `width`, row-major, one per row.
/// templates: float64 arrays of shape (th, tw), C-contiguous, each no larger
/// than the images.
///
/// Returns a float32 array of shape (n,). Raises ValueError for any invalid
/// input. Releases the GIL while it runs (rayon, one image per task).
#[pyfunction]
fn best_ncc<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    height: usize,
    width: usize,
    templates: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let (stack, _, cols) = array_2d::<u8>(images, "images", "uint8", "(n, height * width)")?;
    if cols != height * width {
        return Err(value_error(format!(
            "images must have height * width = {} values per row, got {cols}",
            height * width
        )));
    }
    let mut held = Vec::with_capacity(templates.len());
    for template in &templates {
        held.push(array_2d::<f64>(
            template, "template", "float64", "(th, tw)",
        )?);
    }
    let pixels = stack
        .as_slice()
        .map_err(|e| value_error(format!("images: {e}")))?;
    let mut shapes = Vec::with_capacity(held.len());
    for (array, th, tw) in &held {
        let values = array
            .as_slice()
            .map_err(|e| value_error(format!("template: {e}")))?;
        shapes.push(slide::Template {
            values,
            th: *th,
            tw: *tw,
        });
    }
    let out = py.detach(|| slide::best_ncc(pixels, height, width, &shapes))?;
    Ok(PyArray1::from_vec(py, out))
}

/// The overview of an upright grey frame for the coarse look (area averages,
/// long side `OVERVIEW_SIDE`, see `overview_shape`), as the index stores it.
///
/// grey: uint8 array of shape (h, w), C-contiguous.
/// Returns uint8 bytes of the overview, row-major.
#[pyfunction]
fn overview<'py>(py: Python<'py>, grey: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let (pixels, h, w) = array_2d::<u8>(grey, "grey", "uint8", "(h, w)")?;
    if h == 0 || w == 0 {
        return Err(value_error("grey must have at least one pixel".into()));
    }
    let values = pixels
        .as_slice()
        .map_err(|e| value_error(format!("grey: {e}")))?;
    let out = py.detach(|| slide::overview(values, h, w));
    Ok(PyBytes::new(py, &out))
}

/// The size `(height, width)` of the overview of an `h x w` frame.
#[pyfunction]
fn overview_shape(h: usize, w: usize) -> (usize, usize) {
    slide::overview_shape(h, w)
}

/// One file's preview hashes as returned to Python: the rows as little-endian
/// uint64 bytes (as the index stores them), the view ids, width, height and
/// the frame's overview.
type PreviewRow<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
    usize,
    Bound<'py, PyBytes>,
);

/// The embedded EXIF preview of each JPEG in `paths`, hashed as
/// `hashing.hash_grey(preview, album=True)` would hash what
/// `preview.read_preview(path, max_pixels, box_size)` returns, or None where
/// this path declines the file (the caller runs the Python path for it).
///
/// Returns a list, one item per path: None, or (rows, view_ids, width,
/// height) with rows the (V, 2) uint64 rows as V * 16 little-endian bytes and
/// view_ids V bytes. Files are only read. `threads`: 0 uses the rayon pool of
/// the other kernels, 1 the calling thread, n a pool of n threads. Raises
/// ValueError for invalid limits. Releases the GIL while it runs.
#[pyfunction]
#[pyo3(signature = (
    paths, *, max_pixels, max_preview_pixels, box_size, aspect_tolerance, band_deviation,
    min_short_side, min_long_side, threads=0
))]
#[allow(clippy::too_many_arguments)]
fn preview_hashes<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    max_pixels: u64,
    max_preview_pixels: u64,
    box_size: u32,
    aspect_tolerance: f64,
    band_deviation: f64,
    min_short_side: usize,
    min_long_side: usize,
    threads: usize,
) -> PyResult<Vec<Option<PreviewRow<'py>>>> {
    if box_size == 0 {
        return Err(value_error("box_size must be at least 1, got 0".into()));
    }
    for (name, value) in [
        ("aspect_tolerance", aspect_tolerance),
        ("band_deviation", band_deviation),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(value_error(format!(
                "{name} must be a finite number >= 0, got {value}"
            )));
        }
    }
    let limits = PreviewLimits {
        max_pixels,
        max_preview_pixels,
        box_size,
        aspect_tolerance,
        band_deviation,
        min_short_side,
        min_long_side,
    };
    let found = py.detach(|| preview::preview_hashes(&paths, &limits, threads));
    Ok(found
        .into_iter()
        .map(|item| {
            item.map(|h| {
                let rows: Vec<u8> = h.rows.iter().flat_map(|w| w.to_le_bytes()).collect();
                (
                    PyBytes::new(py, &rows),
                    PyBytes::new(py, &h.view_ids),
                    h.width,
                    h.height,
                    PyBytes::new(py, &h.overview),
                )
            })
        })
        .collect())
}

/// Number of threads in the rayon pool the kernels run on (set it with the
/// RAYON_NUM_THREADS environment variable before the first call).
#[pyfunction]
fn rayon_threads() -> usize {
    rayon::current_num_threads()
}

/// Hands a kernel's Vec to numpy as a 2-D array without copying it.
fn into_2d<'py, T: numpy::Element>(
    py: Python<'py>,
    shape: (usize, usize),
    data: Vec<T>,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let array = Array2::from_shape_vec(shape, data)
        .map_err(|e| value_error(format!("internal error: kernel output shape: {e}")))?;
    Ok(array.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hamming_topk, m)?)?;
    m.add_function(wrap_pyfunction!(hamming_topk_shards, m)?)?;
    m.add_function(wrap_pyfunction!(hamming_distances, m)?)?;
    m.add_function(wrap_pyfunction!(area_resize, m)?)?;
    m.add_function(wrap_pyfunction!(fine_detail, m)?)?;
    m.add_function(wrap_pyfunction!(best_ncc, m)?)?;
    m.add_function(wrap_pyfunction!(ncc_map, m)?)?;
    m.add_function(wrap_pyfunction!(tile_stats, m)?)?;
    m.add_function(wrap_pyfunction!(quantiles, m)?)?;
    m.add_function(wrap_pyfunction!(overview, m)?)?;
    m.add_function(wrap_pyfunction!(overview_shape, m)?)?;
    m.add("OVERVIEW_SIDE", slide::OVERVIEW_SIDE)?;
    m.add_function(wrap_pyfunction!(preview_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(rayon_threads, m)?)?;
    Ok(())
}
