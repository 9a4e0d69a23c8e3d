//! The preview decode: libjpeg-turbo's decoder (built from source by
//! `mozjpeg-sys`) with Pillow's settings, for [`crate::preview`]; see there for
//! why this decoder, and why a damaged preview is declined.

use std::panic::{self, AssertUnwindSafe};

use crate::jpeg_header::JpegHeader;
use crate::preview::Grey;

/// Raised through libjpeg by its error handler, caught in [`decode_grey`].
struct JpegFailed;

unsafe extern "C-unwind" fn jpeg_error_exit(_cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
    // resume_unwind, not panic!: the panic hook (a message on stderr) is not
    // run for what is only a damaged file.
    panic::resume_unwind(Box::new(JpegFailed));
}

unsafe extern "C-unwind" fn jpeg_emit_message(
    _cinfo: &mut mozjpeg_sys::jpeg_common_struct,
    level: std::os::raw::c_int,
) {
    // Any warning (level -1) means damaged data, which libjpeg-turbo versions,
    // and its memory source against Pillow's suspending one, may decode
    // differently (seen: a flipped byte in a preview's scan gave three other
    // pixels); and data that ends early is an error to Pillow ("image file is
    // truncated") where the memory source would go on with a made-up end.
    // Such a preview is left to Python. Trace messages (level >= 0) are ignored.
    if level < 0 {
        panic::resume_unwind(Box::new(JpegFailed));
    }
}

unsafe extern "C-unwind" fn jpeg_output_message(_cinfo: &mut mozjpeg_sys::jpeg_common_struct) {}

/// A decompressor and its error manager, boxed so libjpeg's pointers to them
/// stay valid, destroyed (its memory freed) on every way out, unwinding included.
struct Decompressor {
    cinfo: Box<mozjpeg_sys::jpeg_decompress_struct>,
    _err: Box<mozjpeg_sys::jpeg_error_mgr>,
    created: bool,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        if self.created {
            // SAFETY: created by jpeg_create_decompress, destroyed once.
            unsafe { mozjpeg_sys::jpeg_destroy_decompress(&mut self.cinfo) };
        }
    }
}

/// libjpeg-turbo's IDCT method for one block (`inverse_DCT_method_ptr`).
type IdctMethod = unsafe extern "C-unwind" fn(
    *mut mozjpeg_sys::jpeg_decompress_struct,
    *mut mozjpeg_sys::jpeg_component_info,
    *mut mozjpeg_sys::JCOEF,
    mozjpeg_sys::JSAMPARRAY_MUT,
    mozjpeg_sys::JDIMENSION,
);

/// libjpeg's `struct jpeg_inverse_dct` (jpegint.h): opaque in mozjpeg-sys.
#[repr(C)]
struct InverseDct {
    start_pass: *mut std::ffi::c_void,
    inverse_dct: [Option<IdctMethod>; 10], // MAX_COMPONENTS
}

/// What the IDCT wrapper needs: the methods it wraps, and what it found.
/// Reached through `cinfo.common.client_data`.
struct RangeGuard {
    original: [Option<IdctMethod>; 10],
    out_of_range: bool,
}

/// A block whose IDCT stays within +-`MAX_LEVEL` of mid-grey is inside the
/// +-512 where libjpeg-turbo's C IDCT (built here, which wraps around beyond)
/// and its SIMD IDCTs (Pillow's wheels, which saturate) give the same pixels.
const MAX_LEVEL: f64 = 480.0;
/// Above this `sum |coefficient x quantizer|` a block is out of range whatever
/// its IDCT: the 16-bit arithmetic of the SIMD passes could saturate on the way.
const MAX_SUM: i64 = 6000;

/// Each coefficient's largest contribution to an IDCT value, `C(u) C(v) / 4`
/// with `C(0) = 1/sqrt(2)` (rounded up): an IDCT value is at most
/// `sum |F| * weight`.
const WEIGHTS: [f32; 64] = {
    let mut w = [0.25f32; 64];
    let mut i = 0;
    while i < 8 {
        w[i] = 0.17678; // 1 / (4 sqrt 2), rounded up
        w[i * 8] = 0.17678;
        i += 1;
    }
    w[0] = 0.125;
    w
};

/// Whether the IDCT of a dequantized block stays within `MAX_LEVEL`: from the
/// bound on the sums when it suffices (most blocks), else from the exact
/// (real-valued) IDCT.
#[allow(clippy::needless_range_loop)] // the loops follow the IDCT's index formulas
fn block_in_range(coef: &[mozjpeg_sys::JCOEF], quant: &[u16; 64]) -> bool {
    // f32 is exact for every sum near the thresholds, and lets this loop,
    // run on every block, vectorize.
    let (mut sums, mut bounds) = ([0.0f32; 8], [0.0f32; 8]);
    for row in 0..8 {
        for lane in 0..8 {
            let i = row * 8 + lane;
            let f = (f32::from(coef[i]) * f32::from(quant[i])).abs();
            sums[lane] += f;
            bounds[lane] += f * WEIGHTS[i];
        }
    }
    let (sum, bound): (f32, f32) = (sums.iter().sum(), bounds.iter().sum());
    if sum > MAX_SUM as f32 {
        return false;
    }
    if f64::from(bound) <= MAX_LEVEL {
        return true;
    }
    static BASIS: std::sync::OnceLock<[[f64; 8]; 8]> = std::sync::OnceLock::new();
    let basis = BASIS.get_or_init(|| {
        let mut b = [[0.0; 8]; 8]; // b[x][u] = C(u) cos((2x + 1) u pi / 16)
        for (x, row) in b.iter_mut().enumerate() {
            for (u, v) in row.iter_mut().enumerate() {
                let c = if u == 0 {
                    std::f64::consts::FRAC_1_SQRT_2
                } else {
                    1.0
                };
                *v = c * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos();
            }
        }
        b
    });
    let mut rows = [[0.0f64; 8]; 8]; // rows[v][x]: the horizontal pass
    for v in 0..8 {
        for x in 0..8 {
            let mut acc = 0.0;
            for u in 0..8 {
                acc += basis[x][u] * (f64::from(coef[v * 8 + u]) * f64::from(quant[v * 8 + u]));
            }
            rows[v][x] = acc;
        }
    }
    for y in 0..8 {
        for x in 0..8 {
            let mut acc = 0.0;
            for v in 0..8 {
                acc += basis[y][v] * rows[v][x];
            }
            if (acc / 4.0).abs() > MAX_LEVEL {
                return false;
            }
        }
    }
    true
}

/// Wraps libjpeg's IDCT of one block: notes a block whose coefficients could
/// take the C and SIMD IDCTs apart (only damaged data has such blocks), then
/// runs the IDCT as libjpeg would.
unsafe extern "C-unwind" fn guarded_idct(
    cinfo: *mut mozjpeg_sys::jpeg_decompress_struct,
    compptr: *mut mozjpeg_sys::jpeg_component_info,
    coef_block: *mut mozjpeg_sys::JCOEF,
    output_buf: mozjpeg_sys::JSAMPARRAY_MUT,
    output_col: mozjpeg_sys::JDIMENSION,
) {
    // SAFETY: libjpeg calls this with its live decompressor, the component and
    // a block of 64 coefficients; client_data is the RangeGuard set up in
    // decode_grey for this decompressor, alive until it is destroyed.
    unsafe {
        let guard = &mut *((*cinfo).common.client_data as *mut RangeGuard);
        let quant = &(*(*compptr).quant_table).quantval;
        let coef = std::slice::from_raw_parts(coef_block, 64);
        if !block_in_range(coef, quant) {
            guard.out_of_range = true;
        }
        let index = usize::try_from((*compptr).component_index).unwrap_or(usize::MAX);
        match guard.original.get(index).copied().flatten() {
            Some(idct) => idct(cinfo, compptr, coef_block, output_buf, output_col),
            None => panic::resume_unwind(Box::new(JpegFailed)),
        }
    }
}

/// Puts [`guarded_idct`] in front of each component's IDCT method, once
/// jpeg_start_decompress has chosen them (they stay for the single output
/// pass). False when the methods cannot be found.
///
/// SAFETY: `cinfo` is started (jpeg_start_decompress returned) and its
/// `client_data` points to `guard`.
unsafe fn guard_idct(
    cinfo: &mut mozjpeg_sys::jpeg_decompress_struct,
    guard: &mut RangeGuard,
) -> bool {
    // `idct` is private in mozjpeg-sys: it is the fourth pointer from the end
    // of jpeg_decompress_struct (idct, upsample, cconvert, cquantize), whose
    // layout mozjpeg-sys checks against libjpeg's.
    let end = std::mem::size_of::<mozjpeg_sys::jpeg_decompress_struct>();
    let at = end - 4 * std::mem::size_of::<*mut std::ffi::c_void>();
    // SAFETY: inside the struct, pointer-aligned (the struct ends with these pointers).
    let idct = unsafe {
        *((cinfo as *mut mozjpeg_sys::jpeg_decompress_struct as *mut u8).add(at)
            as *const *mut InverseDct)
    };
    if idct.is_null() {
        return false;
    }
    // SAFETY: libjpeg's inverse DCT controller, allocated for this decompressor.
    let methods = unsafe { &mut (*idct).inverse_dct };
    let used = usize::try_from(cinfo.num_components)
        .unwrap_or(0)
        .min(methods.len());
    if used == 0 || methods[0].is_none() {
        return false;
    }
    for (method, original) in methods.iter_mut().zip(&mut guard.original).take(used) {
        *original = *method;
        if method.is_some() {
            *method = Some(guarded_idct);
        }
    }
    true
}

/// `data` decoded to grey at 1/`scale`, as Pillow's `draft("L")` + `convert("L")`
/// decodes it; None when libjpeg fails or reads another picture than `header`.
pub(crate) fn decode_grey(data: &[u8], header: &JpegHeader, scale: u32) -> Option<Grey> {
    use mozjpeg_sys::*;
    let run = || -> Option<Grey> {
        // SAFETY: plain C structs, zeroed as libjpeg's examples do; the error
        // manager is set up by jpeg_std_error before use, the decompressor by
        // jpeg_create_decompress; both stay boxed (fixed addresses) while in use;
        // every libjpeg error unwinds to the catch_unwind below.
        unsafe {
            let mut err: Box<jpeg_error_mgr> = Box::new(std::mem::zeroed());
            jpeg_std_error(&mut err);
            err.error_exit = Some(jpeg_error_exit);
            err.emit_message = Some(jpeg_emit_message);
            err.output_message = Some(jpeg_output_message);
            let mut d = Decompressor {
                cinfo: Box::new(std::mem::zeroed()),
                _err: err,
                created: false,
            };
            d.cinfo.common.err = &mut *d._err;
            jpeg_create_decompress(&mut *d.cinfo);
            d.created = true;
            let mut guard = Box::new(RangeGuard {
                original: [None; 10],
                out_of_range: false,
            });
            let cinfo = &mut *d.cinfo;
            cinfo.common.client_data = &mut *guard as *mut RangeGuard as *mut std::ffi::c_void;
            jpeg_mem_src(cinfo, data.as_ptr(), data.len() as _);
            jpeg_read_header(cinfo, 1);
            if cinfo.image_width != header.width
                || cinfo.image_height != header.height
                || cinfo.num_components != i32::from(header.components)
            {
                return None;
            }
            cinfo.scale_num = 1;
            cinfo.scale_denom = scale;
            cinfo.out_color_space = J_COLOR_SPACE::JCS_GRAYSCALE;
            cinfo.dct_method = J_DCT_METHOD::JDCT_ISLOW;
            jpeg_start_decompress(cinfo);
            let (w, h) = (cinfo.output_width as usize, cinfo.output_height as usize);
            if cinfo.output_components != 1 || w == 0 || h == 0 || !guard_idct(cinfo, &mut guard) {
                return None;
            }
            let mut pixels = vec![0u8; w * h];
            while (cinfo.output_scanline as usize) < h {
                let row = cinfo.output_scanline as usize;
                let mut line = pixels.as_mut_ptr().add(row * w);
                if jpeg_read_scanlines(cinfo, &mut line, 1) != 1 {
                    return None;
                }
            }
            // Pillow stops after the last line. Reading on to the end of the
            // image checks that the scan was used up exactly: a damaged scan
            // that the decoder went through out of step ends with a warning
            // here ("extraneous bytes before marker"), and is left to Python
            // (a flipped byte that warned of nothing else gave three pixels
            // other than Pillow's: damaged coefficients run outside the range
            // where libjpeg-turbo's C and SIMD IDCTs agree).
            jpeg_finish_decompress(cinfo);
            if guard.out_of_range {
                return None;
            }
            Some(Grey {
                width: w,
                height: h,
                pixels,
            })
        }
    };
    panic::catch_unwind(AssertUnwindSafe(run)).ok().flatten()
}
