//! The pixel check's heavy loop: the normalised cross-correlation of one
//! template at every placement of a small region inside one image.
//!
//! `verify.align` locates a thumbnail inside a candidate at some twenty-five
//! scales, then checks it against the canonical framings: each step is a map
//! of correlations over a few dozen to a few hundred placements. In numpy each
//! map cost a sliding-window `einsum` or two FFTs plus a dozen array
//! temporaries, all under the GIL, so the check's threads took turns. Here a
//! map is plain loops in f64 (more exact than the f32 FFT it replaces), and
//! the binding releases the GIL.

use std::fmt;
use std::ops::Range;

/// Why a correlation map was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum NccError {
    /// The image or the template has no pixels, or the region no placement.
    Empty,
    /// A pixel buffer's length is not its `rows x cols`.
    Shape {
        what: &'static str,
        len: usize,
        rows: usize,
        cols: usize,
    },
    /// A placement of the region puts the template outside the image.
    Region {
        rows: Range<usize>,
        cols: Range<usize>,
        th: usize,
        tw: usize,
        h: usize,
        w: usize,
    },
}

impl fmt::Display for NccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NccError::Empty => write!(
                f,
                "image, template and region must each have at least one pixel"
            ),
            NccError::Shape {
                what,
                len,
                rows,
                cols,
            } => write!(f, "{what} holds {len} values, not {rows}x{cols}"),
            NccError::Region {
                rows,
                cols,
                th,
                tw,
                h,
                w,
            } => write!(
                f,
                "placements rows {rows:?} x columns {cols:?} put a {th}x{tw} template \
                 outside a {h}x{w} image"
            ),
        }
    }
}

impl std::error::Error for NccError {}

/// The zero-mean normalised cross-correlation of `template` (`th x tw`,
/// row-major) with the window of `image` (`h x w`) whose top-left corner is at
/// each placement of `rows x cols`, row-major, within [-1, 1].
///
/// A window (or a template) flatter than `min_std` grey levels of standard
/// deviation is counted as having that much: a flat window scores near 0
/// rather than dividing by nothing, and a template flat to begin with scores
/// 0 everywhere (the same floor numpy's `verify._Surface.ncc` applied).
/// Sums and products are in f64.
#[allow(clippy::too_many_arguments)]
pub fn ncc_map(
    image: &[f32],
    h: usize,
    w: usize,
    template: &[f32],
    th: usize,
    tw: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    min_std: f64,
) -> Result<Vec<f64>, NccError> {
    if h == 0 || w == 0 || th == 0 || tw == 0 || rows.is_empty() || cols.is_empty() {
        return Err(NccError::Empty);
    }
    let shape = |what: &'static str, len: usize, rows: usize, cols: usize| {
        if len == rows * cols {
            Ok(())
        } else {
            Err(NccError::Shape {
                what,
                len,
                rows,
                cols,
            })
        }
    };
    shape("image", image.len(), h, w)?;
    shape("template", template.len(), th, tw)?;
    if rows.end - 1 + th > h || cols.end - 1 + tw > w {
        return Err(NccError::Region {
            rows,
            cols,
            th,
            tw,
            h,
            w,
        });
    }
    let n = (th * tw) as f64;
    // Sums in f64 straight from the f32 pixels: no copy of the template or
    // the image (copies of a few hundred KiB each, fresh pages from the
    // allocator every call, cost more than the correlation itself).
    let t_sum: f64 = template.chunks_exact(tw).map(sum).sum();
    let t_sq: f64 = template
        .chunks_exact(tw)
        .map(|row| dot::<false>(row, row))
        .sum();
    let mean = t_sum / n;
    let t_norm = (t_sq - t_sum * mean)
        .max(0.0)
        .sqrt()
        .max(min_std * n.sqrt());
    let var_floor = min_std * min_std * n;

    // The rows of the image that the placements read, from the first column read.
    let (ny, nx) = (rows.len(), cols.len());
    let region = Region {
        image,
        w,
        y0: rows.start,
        x0: cols.start,
        rows: ny + th - 1,
    };
    let (sums, squares) = window_sums(&region, th, tw, ny, nx);
    let products = products(template, tw, &region, ny, nx);
    let mut out = Vec::with_capacity(ny * nx);
    for ((tw_sum, s1), s2) in products.into_iter().zip(sums).zip(squares) {
        // Sum of (t - mean) * window = sum of t * window - mean * sum of window.
        let num = tw_sum - mean * s1;
        let var = (s2 - s1 * s1 / n).max(var_floor);
        out.push((num / (var.sqrt() * t_norm)).clamp(-1.0, 1.0));
    }
    Ok(out)
}

/// The part of an image the placements read: `rows` rows from `y0`, each
/// read from column `x0` on.
struct Region<'a> {
    image: &'a [f32],
    w: usize,
    y0: usize,
    x0: usize,
    rows: usize,
}

impl Region<'_> {
    /// Row `r` of the region, from its first column to the image's edge.
    fn row(&self, r: usize) -> &[f32] {
        let start = (self.y0 + r) * self.w + self.x0;
        &self.image[start..(self.y0 + r + 1) * self.w]
    }
}

/// Each placement's sum and sum of squares of its window: every region row's
/// sums over its `nx` windows (the first summed, the rest slid along), then
/// those over `th` rows (slid down). The work is about one pass over the
/// region, whatever the number of placements: a few placements of a large
/// template (the canonical check) cost no more than a whole scan.
fn window_sums(
    region: &Region<'_>,
    th: usize,
    tw: usize,
    ny: usize,
    nx: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut row_sums, mut row_squares) = (
        vec![0.0f64; region.rows * nx],
        vec![0.0f64; region.rows * nx],
    );
    for r in 0..region.rows {
        let row = region.row(r);
        let (mut s, mut q) = (sum(&row[..tw]), dot::<false>(&row[..tw], &row[..tw]));
        row_sums[r * nx] = s;
        row_squares[r * nx] = q;
        for x in 1..nx {
            let (gone, new) = (f64::from(row[x - 1]), f64::from(row[x + tw - 1]));
            s += new - gone;
            q += new * new - gone * gone;
            row_sums[r * nx + x] = s;
            row_squares[r * nx + x] = q;
        }
    }
    let slide_down = |rows: &[f64]| {
        let mut out = vec![0.0f64; ny * nx];
        for x in 0..nx {
            let mut s: f64 = (0..th).map(|r| rows[r * nx + x]).sum();
            out[x] = s;
            for y in 1..ny {
                s += rows[(y + th - 1) * nx + x] - rows[(y - 1) * nx + x];
                out[y * nx + x] = s;
            }
        }
        out
    };
    (slide_down(&row_sums), slide_down(&row_squares))
}

/// For each of `ny x nx` placements (row-major), the dot product of the
/// template (rows of `tw`) with the window there. On x86-64 with AVX2 and
/// FMA (nearly every machine since 2013) the same loops are compiled for
/// them and chosen at run time.
fn products(template: &[f32], tw: usize, region: &Region<'_>, ny: usize, nx: usize) -> Vec<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { products_avx2(template, tw, region, ny, nx) };
        }
    }
    products_with::<false>(template, tw, region, ny, nx)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn products_avx2(
    template: &[f32],
    tw: usize,
    region: &Region<'_>,
    ny: usize,
    nx: usize,
) -> Vec<f64> {
    products_with::<true>(template, tw, region, ny, nx)
}

#[inline(always)]
fn products_with<const FMA: bool>(
    template: &[f32],
    tw: usize,
    region: &Region<'_>,
    ny: usize,
    nx: usize,
) -> Vec<f64> {
    // Template row by template row, so that the row and the few image rows
    // it meets stay in the L1 cache for every placement.
    let mut out = vec![0.0f64; ny * nx];
    for (i, trow) in template.chunks_exact(tw).enumerate() {
        for y in 0..ny {
            let row = region.row(y + i);
            for x in 0..nx {
                out[y * nx + x] += dot::<FMA>(trow, &row[x..x + tw]);
            }
        }
    }
    out
}

/// The dot product of two equally long f32 slices, in f64, in sixteen
/// independent lanes (which the compiler turns into SIMD registers, enough
/// of them to keep the multiply-add units busy); fused multiply-adds where
/// `FMA`.
#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 16;
    let mut lanes = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let (x, y) = (f64::from(x[i]), f64::from(y[i]));
            lanes[i] = if FMA {
                x.mul_add(y, lanes[i])
            } else {
                lanes[i] + x * y
            };
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// The sum of an f32 slice, in f64, in independent lanes.
#[inline(always)]
fn sum(a: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v)).sum();
    for c in chunks {
        for i in 0..LANES {
            lanes[i] += f64::from(c[i]);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth, varied test pattern (no two placements alike).
    fn pattern(h: usize, w: usize) -> Vec<f32> {
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                128.0 + 60.0 * (x * 0.37).sin() * (y * 0.23).cos() + 3.0 * y - 2.0 * x
            })
            .collect()
    }

    fn cut(image: &[f32], w: usize, y: usize, x: usize, th: usize, tw: usize) -> Vec<f32> {
        (0..th)
            .flat_map(|i| (0..tw).map(move |j| (i, j)))
            .map(|(i, j)| image[(y + i) * w + x + j])
            .collect()
    }

    /// The correlation by its definition, one placement at a time.
    fn reference(
        image: &[f32],
        w: usize,
        t: &[f32],
        th: usize,
        tw: usize,
        y: usize,
        x: usize,
    ) -> f64 {
        let win: Vec<f64> = cut(image, w, y, x, th, tw)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let t: Vec<f64> = t.iter().map(|&v| f64::from(v)).collect();
        let n = win.len() as f64;
        let (mw, mt) = (win.iter().sum::<f64>() / n, t.iter().sum::<f64>() / n);
        let cov: f64 = win.iter().zip(&t).map(|(a, b)| (a - mw) * (b - mt)).sum();
        let vw: f64 = win.iter().map(|a| (a - mw) * (a - mw)).sum();
        let vt: f64 = t.iter().map(|b| (b - mt) * (b - mt)).sum();
        cov / (vw * vt).sqrt()
    }

    #[test]
    fn every_placement_gets_the_correlation_by_its_definition() {
        let (h, w, th, tw) = (40, 50, 13, 17);
        let image = pattern(h, w);
        let t: Vec<f32> = cut(&image, w, 9, 21, th, tw)
            .iter()
            .enumerate()
            .map(|(i, v)| v * 0.8 + 5.0 + (i % 7) as f32) // not an exact copy
            .collect();
        let out = ncc_map(&image, h, w, &t, th, tw, 4..15, 16..27, 2.0).unwrap();
        assert_eq!(out.len(), 11 * 11);
        for (k, score) in out.iter().enumerate() {
            let (y, x) = (4 + k / 11, 16 + k % 11);
            let want = reference(&image, w, &t, th, tw, y, x);
            assert!((score - want).abs() < 1e-9, "({y}, {x}): {score} vs {want}");
        }
    }

    #[test]
    fn a_window_cut_from_the_image_fits_it_exactly_and_best() {
        let (h, w, th, tw) = (30, 36, 11, 9);
        let image = pattern(h, w);
        let t = cut(&image, w, 12, 20, th, tw);
        let out = ncc_map(&image, h, w, &t, th, tw, 0..h - th + 1, 0..w - tw + 1, 2.0).unwrap();
        let best = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        assert_eq!(best.0, 12 * (w - tw + 1) + 20);
        assert!((best.1 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn flat_templates_score_zero_and_flat_windows_near_zero() {
        let (h, w) = (12, 12);
        let mut image = pattern(h, w);
        for v in &mut image[..6 * w] {
            *v = 100.0; // the top half flat
        }
        let flat = vec![7.0f32; 9];
        let out = ncc_map(&image, h, w, &flat, 3, 3, 0..10, 0..10, 2.0).unwrap();
        assert!(out.iter().all(|&s| s == 0.0));
        let t = cut(&image, w, 8, 2, 3, 3);
        let out = ncc_map(&image, h, w, &t, 3, 3, 0..1, 0..10, 2.0).unwrap();
        assert!(out.iter().all(|&s| s.abs() < 1e-12), "{out:?}");
    }

    #[test]
    fn bad_shapes_and_regions_are_refused() {
        let image = pattern(10, 10);
        let t = vec![1.0f32; 9];
        assert_eq!(
            ncc_map(&image, 10, 10, &t, 3, 3, 0..0, 0..3, 2.0),
            Err(NccError::Empty)
        );
        assert!(matches!(
            ncc_map(&image[..99], 10, 10, &t, 3, 3, 0..3, 0..3, 2.0),
            Err(NccError::Shape { what: "image", .. })
        ));
        assert!(matches!(
            ncc_map(&image, 10, 10, &t[..8], 3, 3, 0..3, 0..3, 2.0),
            Err(NccError::Shape {
                what: "template",
                ..
            })
        ));
        assert!(matches!(
            ncc_map(&image, 10, 10, &t, 3, 3, 0..9, 0..3, 2.0),
            Err(NccError::Region { .. })
        ));
        assert!(ncc_map(&image, 10, 10, &t, 3, 3, 0..8, 0..8, 2.0).is_ok());
    }
}
