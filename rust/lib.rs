//! photomatch's native core: Hamming top-k search over packed bit hashes, the
//! area resize, fine detail, correlation maps, tile statistics and quantiles under the pixel check, the coarse look
//! over album overviews, and the embedded-preview indexing path (header, EXIF,
//! preview decode, views and dHash rows, without the GIL).
//!
//! The kernels in [`hamming`], [`resize`], [`detail`], [`ncc`], [`tiles`], [`quantiles`], [`slide`], [`preview`] (with
//! `jpeg_header`, `jpeg_decode`) and [`dhash`] are plain Rust (tested with `cargo test`); the
//! Python bindings live in `py` and are only built with the `python` feature,
//! which maturin enables.

mod detail;
mod dhash;
mod hamming;
mod jpeg_decode;
mod jpeg_header;
mod ncc;
mod preview;
mod quantiles;
mod resize;
mod slide;
mod tiles;

pub use detail::{fine_detail, DetailError};
pub use hamming::{hamming_distances, hamming_topk, hamming_topk_shards, KernelError, MAX_WORDS};
pub use ncc::{ncc_map, NccError};
pub use preview::{
    hash_album_grey, preview_hash, preview_hashes, read_preview, Grey, PreviewHashes, PreviewLimits,
};
pub use quantiles::{quantiles, QuantileError};
pub use resize::{area_resize, ResizeError, MAX_VALUES};
pub use slide::{best_ncc, overview, overview_shape, SlideError, Template, OVERVIEW_SIDE};
pub use tiles::{tile_stats, TileError, TILE_FIELDS};

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// The extension module `photomatch._core`.
#[cfg(feature = "python")]
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
