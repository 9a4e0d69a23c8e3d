//! Area-average resizing of small grey images, the inner step of the pixel
//! check: each thumbnail is aligned in several candidates at some forty sizes,
//! and at those sizes (a few hundred pixels a side) numpy spends most of its
//! time between calls rather than on the arithmetic.
//!
//! The result is exact box averaging with fractional pixel edges, one axis at
//! a time, from cumulative sums (the integral of a pixel grid is linear inside
//! each pixel). The arithmetic is done in the same order as the numpy version
//! it replaces, so the two agree to the last bit.

use std::fmt;

/// Why a resize was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ResizeError {
    /// The input has no pixels, or an output side is 0.
    Empty {
        h: usize,
        w: usize,
        out_h: usize,
        out_w: usize,
    },
    /// `src.len()` is not `h * w`.
    Length { len: usize, h: usize, w: usize },
    /// `scale` is not a positive finite number.
    Scale { scale: f64 },
    /// The output, or a step of the work, would hold more than [`MAX_VALUES`] values.
    TooLarge { out_h: usize, out_w: usize },
}

/// Most values an output (or the intermediate of one axis) may hold: far above
/// any image the pixel check resizes, far below what would exhaust memory.
pub const MAX_VALUES: usize = 1 << 28;

impl fmt::Display for ResizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResizeError::Empty { h, w, out_h, out_w } => write!(
                f,
                "cannot resize a {h}x{w} image to {out_h}x{out_w}: every side must be at least 1"
            ),
            ResizeError::Length { len, h, w } => {
                write!(
                    f,
                    "an image of {h}x{w} pixels needs {} values, got {len}",
                    h * w
                )
            }
            ResizeError::Scale { scale } => {
                write!(f, "scale must be a positive finite number, got {scale}")
            }
            ResizeError::TooLarge { out_h, out_w } => write!(
                f,
                "cannot resize to {out_h}x{out_w}: at most {MAX_VALUES} values per image"
            ),
        }
    }
}

impl std::error::Error for ResizeError {}

/// Where each output pixel starts inside the input, along one axis.
struct Edges {
    /// Whole input pixels before the edge, and the covered part of the next one.
    lo: Vec<usize>,
    frac: Vec<f64>,
    /// Width of each output pixel, in input pixels.
    width: Vec<f64>,
}

fn edges(n_in: usize, n_out: usize, scale: Option<f64>) -> Edges {
    let at: Vec<f64> = match scale {
        // As numpy.linspace(0, n_in, n_out + 1): i * step, the last one exact.
        None => {
            let step = n_in as f64 / n_out as f64;
            (0..=n_out)
                .map(|i| {
                    if i == n_out {
                        n_in as f64
                    } else {
                        i as f64 * step
                    }
                })
                .collect()
        }
        Some(s) => (0..=n_out)
            .map(|i| (i as f64 / s).min(n_in as f64))
            .collect(),
    };
    let lo: Vec<usize> = at.iter().map(|&e| (e.floor() as usize).min(n_in)).collect();
    let frac = at.iter().zip(&lo).map(|(&e, &l)| e - l as f64).collect();
    let width = at.windows(2).map(|p| (p[1] - p[0]).max(1e-9)).collect();
    Edges { lo, frac, width }
}

/// Edge `i` as the running sums it reads: the integral up to it is
/// `cum[lo] + frac * (cum[next] - cum[lo])`, whole pixels plus the covered
/// part of the next one.
fn span(e: &Edges, i: usize, n_in: usize) -> (usize, usize, f64) {
    let (lo, frac) = (e.lo[i], e.frac[i]);
    (lo, (lo + 1).min(n_in), frac)
}

/// `dst = from + row`, value by value: the next running sum of rows.
fn add_row<T: Copy + Into<f64>>(dst: &mut [f64], from: &[f64], row: &[T]) {
    for ((d, &p), &v) in dst.iter_mut().zip(from).zip(row) {
        *d = p + v.into();
    }
}

/// Resizes along the rows' axis (axis 0) of a row-major `(n_in, cols)` image.
///
/// The running sums of rows are kept two rows at a time (the sum of rows
/// `0..k` and of `0..k+1`), advanced as the output edges move down the image:
/// the same arithmetic, in the same order, as holding them all, without an
/// array of `n_in + 1` rows that a large decode would have to fault in.
fn resize_axis0<T: Copy + Into<f64>>(
    src: &[T],
    n_in: usize,
    cols: usize,
    n_out: usize,
    scale: Option<f64>,
) -> Vec<f64> {
    let e = edges(n_in, n_out, scale);
    let mut base = vec![0.0f64; cols]; // the sum of rows 0..k
    let mut over = vec![0.0f64; cols]; // ... of rows 0..min(k + 1, n_in)
    let mut k = 0usize;
    add_row(&mut over, &base, &src[..cols]);
    let mut prev = vec![0.0f64; cols]; // the integral up to the last edge
    let mut at = vec![0.0f64; cols];
    let mut out = vec![0.0f64; n_out * cols];
    for i in 0..=n_out {
        let (lo, _, frac) = span(&e, i, n_in);
        while k < lo {
            std::mem::swap(&mut base, &mut over);
            k += 1;
            if k < n_in {
                add_row(&mut over, &base, &src[k * cols..(k + 1) * cols]);
            } else {
                over.copy_from_slice(&base);
            }
        }
        for ((a, &b), &n) in at.iter_mut().zip(&base).zip(&over) {
            *a = b + frac * (n - b);
        }
        if i > 0 {
            let width = e.width[i - 1];
            let out_row = &mut out[(i - 1) * cols..i * cols];
            for ((o, &a0), &a1) in out_row.iter_mut().zip(&prev).zip(&at) {
                *o = (a1 - a0) / width;
            }
        }
        std::mem::swap(&mut prev, &mut at);
    }
    out
}

/// Resizes along the columns' axis (axis 1) of a row-major `(rows, n_in)` image.
fn resize_axis1<T: Copy + Into<f64>>(
    src: &[T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    scale: Option<f64>,
) -> Vec<f64> {
    let e = edges(n_in, n_out, scale);
    let spans: Vec<(usize, usize, f64)> = (0..=n_out).map(|i| span(&e, i, n_in)).collect();
    let mut cum = vec![0.0f64; n_in + 1];
    let mut at = vec![0.0f64; n_out + 1];
    let mut out = vec![0.0f64; rows * n_out];
    for (row, out_row) in src
        .chunks_exact(n_in)
        .zip(out.chunks_exact_mut(n_out))
        .take(rows)
    {
        let mut sum = 0.0f64;
        for (c, &v) in cum[1..].iter_mut().zip(row) {
            sum += v.into();
            *c = sum;
        }
        for (a, &(lo, next, frac)) in at.iter_mut().zip(&spans) {
            *a = cum[lo] + frac * (cum[next] - cum[lo]);
        }
        for ((o, pair), &width) in out_row.iter_mut().zip(at.windows(2)).zip(&e.width) {
            *o = (pair[1] - pair[0]) / width;
        }
    }
    out
}

/// Area-averages a row-major `(h, w)` image to `(out_h, out_w)`.
///
/// Without `scale` the whole image maps onto the output (each axis stretched
/// as its rounding requires); with it, both axes shrink by exactly `scale`
/// from the top-left corner (edges past the image are held at its border).
/// An axis whose size does not change, with no scale or a scale of 1, is
/// copied as it is. The pixels may be of any type that converts to f64
/// exactly (u8, f32, f64): the pixel check resizes decoded u8 frames, of
/// which a converted copy cost more than the resize.
pub fn area_resize<T: Copy + Into<f64>>(
    src: &[T],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    scale: Option<f64>,
) -> Result<Vec<f32>, ResizeError> {
    if h == 0 || w == 0 || out_h == 0 || out_w == 0 {
        return Err(ResizeError::Empty { h, w, out_h, out_w });
    }
    if src.len() != h * w {
        return Err(ResizeError::Length {
            len: src.len(),
            h,
            w,
        });
    }
    if let Some(s) = scale {
        if !(s.is_finite() && s > 0.0) {
            return Err(ResizeError::Scale { scale: s });
        }
    }
    let fits = |a: usize, b: usize| a.checked_mul(b).is_some_and(|n| n <= MAX_VALUES);
    if !(fits(out_h, out_w) && fits(out_h + 1, w)) {
        return Err(ResizeError::TooLarge { out_h, out_w });
    }
    let unchanged = |n_in: usize, n_out: usize| n_in == n_out && scale.is_none_or(|s| s == 1.0);
    let both = match (unchanged(h, out_h), unchanged(w, out_w)) {
        (true, true) => src.iter().map(|&v| v.into()).collect(),
        (true, false) => resize_axis1(src, out_h, w, out_w, scale),
        (false, true) => resize_axis0(src, h, w, out_h, scale),
        (false, false) => {
            let rows = resize_axis0(src, h, w, out_h, scale);
            resize_axis1(&rows, out_h, w, out_w, scale)
        }
    };
    Ok(both.into_iter().map(|v: f64| v as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(h: usize, w: usize) -> Vec<f64> {
        (0..h * w)
            .map(|i| ((i * 37 + i / w * 11) % 256) as f64)
            .collect()
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let src = [1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0];
        let out = area_resize(&src, 2, 4, 1, 2, None).unwrap();
        assert_eq!(out, vec![2.5, 6.5]);
    }

    #[test]
    fn same_size_is_a_copy() {
        let src = image(5, 7);
        let out = area_resize(&src, 5, 7, 5, 7, None).unwrap();
        assert_eq!(out, src.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn a_flat_image_stays_flat_at_any_size() {
        let src = vec![42.0; 13 * 17];
        for (oh, ow) in [(1, 1), (5, 3), (13, 17), (26, 40), (7, 16)] {
            let out = area_resize(&src, 13, 17, oh, ow, None).unwrap();
            assert!(out.iter().all(|&v| (v - 42.0).abs() < 1e-4), "{oh}x{ow}");
        }
    }

    #[test]
    fn the_mean_is_kept_when_the_whole_image_maps_onto_the_output() {
        let src = image(31, 23);
        let mean = src.iter().sum::<f64>() / src.len() as f64;
        let out = area_resize(&src, 31, 23, 10, 9, None).unwrap();
        // Output pixels cover equal areas, so their mean is the input's.
        let got = out.iter().map(|&v| v as f64).sum::<f64>() / out.len() as f64;
        assert!((got - mean).abs() < 1e-3, "{got} vs {mean}");
    }

    #[test]
    fn with_a_scale_the_top_left_part_is_shrunk_exactly() {
        // Scale 0.5 from the corner: output (r, c) averages input rows 2r..2r+2, cols 2c..2c+2.
        let src = image(8, 8);
        let out = area_resize(&src, 8, 8, 3, 2, Some(0.5)).unwrap();
        for r in 0..3 {
            for c in 0..2 {
                let s: f64 = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .iter()
                    .map(|(dr, dc)| src[(2 * r + dr) * 8 + 2 * c + dc])
                    .sum();
                assert_eq!(out[r * 2 + c], (s / 4.0) as f32);
            }
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_a_reason() {
        let src = image(4, 4);
        assert!(matches!(
            area_resize(&src, 4, 4, 0, 2, None),
            Err(ResizeError::Empty { .. })
        ));
        assert!(matches!(
            area_resize(&src, 4, 5, 2, 2, None),
            Err(ResizeError::Length { .. })
        ));
        assert!(matches!(
            area_resize(&src, 4, 4, usize::MAX, 2, None),
            Err(ResizeError::TooLarge { .. })
        ));
        let err = area_resize(&src, 4, 4, 2, 2, Some(0.0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scale must be a positive finite number, got 0"
        );
    }
}
