//! photomatch's native core: Hamming top-k search over packed bit hashes, and
//! the area resize under the pixel check.
//!
//! The kernels in [`hamming`] and [`resize`] are plain Rust (tested with `cargo test`); the
//! Python bindings live in `py` and are only built with the `python` feature,
//! which maturin enables.

mod hamming;
mod resize;

pub use hamming::{hamming_distances, hamming_topk, hamming_topk_shards, KernelError, MAX_WORDS};
pub use resize::{area_resize, ResizeError, MAX_VALUES};

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
