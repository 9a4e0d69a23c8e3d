//! Fine detail: each pixel less the mean of the `(2 radius + 1)`-pixel square
//! around it (edges replicated), what the pixel check and the grain test
//! compare between two pictures.
//!
//! The square's sum is taken as the numpy version it replaces took it: the
//! `2 radius + 1` rows of the square added in turn, then as many columns, in
//! f64, so the two agree to the last bit. One output row at a time, with no
//! padded copy of the image: the grain test runs it on 2048-px frames, where
//! numpy's whole-array passes and temporaries were most of its cost.

use std::fmt;

/// Why fine detail was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum DetailError {
    /// The image has no pixels.
    Empty { h: usize, w: usize },
    /// `src.len()` is not `h * w`.
    Length { len: usize, h: usize, w: usize },
    /// The square would be wider than any image the check compares.
    Radius { radius: usize },
}

/// Largest radius accepted: the check uses 1 and 2.
pub const MAX_RADIUS: usize = 64;

impl fmt::Display for DetailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailError::Empty { h, w } => {
                write!(f, "an image of {h}x{w} pixels has no detail to take")
            }
            DetailError::Length { len, h, w } => write!(
                f,
                "an image of {h}x{w} pixels needs {} values, got {len}",
                h * w
            ),
            DetailError::Radius { radius } => {
                write!(f, "radius must be at most {MAX_RADIUS}, got {radius}")
            }
        }
    }
}

impl std::error::Error for DetailError {}

/// Row `r` of the image, its ends replicated `radius` pixels out, into `dst`
/// (`w + 2 radius` values).
fn padded_row<T: Copy + Into<f64>>(dst: &mut [f64], row: &[T], radius: usize) {
    let w = row.len();
    let (first, last) = (row[0].into(), row[w - 1].into());
    dst[..radius].fill(first);
    for (d, &v) in dst[radius..radius + w].iter_mut().zip(row) {
        *d = v.into();
    }
    dst[radius + w..].fill(last);
}

/// Fine detail of a row-major `(h, w)` image: `image - box / (k * k)`, the box
/// sum over the `k = 2 radius + 1` square around each pixel, edges
/// replicated. Pixels of any type that converts to f64 exactly.
pub fn fine_detail<T: Copy + Into<f64>>(
    src: &[T],
    h: usize,
    w: usize,
    radius: usize,
) -> Result<Vec<f64>, DetailError> {
    if h == 0 || w == 0 {
        return Err(DetailError::Empty { h, w });
    }
    if src.len() != h * w {
        return Err(DetailError::Length {
            len: src.len(),
            h,
            w,
        });
    }
    if radius > MAX_RADIUS {
        return Err(DetailError::Radius { radius });
    }
    let k = 2 * radius + 1;
    let area = (k * k) as f64;
    let width = w + 2 * radius;
    let mut sum = vec![0.0f64; width]; // the square's rows added, one output row
    let mut line = vec![0.0f64; width];
    let mut out = vec![0.0f64; h * w];
    for (y, out_row) in out.chunks_exact_mut(w).enumerate() {
        for i in 0..k {
            // Row y + i of the padded image is the image's row y + i - radius, held at the edges.
            let r = (y + i).saturating_sub(radius).min(h - 1);
            let row = &src[r * w..(r + 1) * w];
            if i == 0 {
                padded_row(&mut sum, row, radius);
            } else {
                padded_row(&mut line, row, radius);
                for (s, &v) in sum.iter_mut().zip(&line) {
                    *s += v;
                }
            }
        }
        let row = &src[y * w..(y + 1) * w];
        for (x, (o, &v)) in out_row.iter_mut().zip(row).enumerate() {
            let mut boxed = sum[x];
            for s in &sum[x + 1..x + k] {
                boxed += s;
            }
            *o = v.into() - boxed / area;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, written out: the mean of the clamped square.
    fn by_definition(src: &[f64], h: usize, w: usize, radius: usize) -> Vec<f64> {
        let r = radius as isize;
        let at = |y: isize, x: isize| {
            let y = y.clamp(0, h as isize - 1) as usize;
            let x = x.clamp(0, w as isize - 1) as usize;
            src[y * w + x]
        };
        let mut out = Vec::with_capacity(h * w);
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut s = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        s += at(y + dy, x + dx);
                    }
                }
                out.push(at(y, x) - s / ((2 * r + 1) * (2 * r + 1)) as f64);
            }
        }
        out
    }

    #[test]
    fn it_is_each_pixel_less_the_mean_of_its_clamped_square() {
        let (h, w) = (7, 11);
        let src: Vec<f64> = (0..h * w).map(|i| ((i * 37) % 23) as f64).collect();
        for radius in [1, 2, 3] {
            let got = fine_detail(&src, h, w, radius).unwrap();
            for (a, b) in got.iter().zip(by_definition(&src, h, w, radius)) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_flat_image_has_no_detail_and_a_one_pixel_image_neither() {
        let flat = vec![9u8; 5 * 4];
        assert!(fine_detail(&flat, 5, 4, 2)
            .unwrap()
            .iter()
            .all(|&v| v == 0.0));
        assert_eq!(fine_detail(&[3.5f64], 1, 1, 2).unwrap(), vec![0.0]);
    }

    #[test]
    fn bad_inputs_are_refused_with_a_reason() {
        assert_eq!(
            fine_detail::<f64>(&[], 0, 3, 1),
            Err(DetailError::Empty { h: 0, w: 3 })
        );
        assert_eq!(
            fine_detail(&[1.0f64; 5], 2, 3, 1),
            Err(DetailError::Length { len: 5, h: 2, w: 3 })
        );
        assert!(fine_detail(&[1.0f64; 4], 2, 2, MAX_RADIUS + 1)
            .unwrap_err()
            .to_string()
            .contains("radius"));
    }
}
