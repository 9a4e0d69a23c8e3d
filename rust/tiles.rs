//! Statistics of two pictures' fine detail over a grid of tiles: how many
//! pixels each tile compares, how much each picture varies there and how well
//! the two correlate.
//!
//! The pixel check asks for them on every candidate (the lowest tile's
//! correlation says whether a part of the thumbnail is not the candidate's)
//! and the variant and grain tests on every pair of files that look alike.
//! In numpy each tile cost a dozen small-array calls under the GIL, more than
//! the arithmetic; here one pass per tile, the GIL released.

use std::fmt;

/// Why tile statistics were refused.
#[derive(Debug, Clone, PartialEq)]
pub enum TileError {
    /// The pictures have no pixels, or the grid no tiles.
    Empty { h: usize, w: usize, tiles: usize },
    /// A buffer's length is not `h * w`.
    Length {
        what: &'static str,
        len: usize,
        h: usize,
        w: usize,
    },
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::Empty { h, w, tiles } => write!(
                f,
                "{tiles} x {tiles} tiles of a {h}x{w} picture: nothing to compare"
            ),
            TileError::Length { what, len, h, w } => {
                write!(f, "{what} holds {len} values, not {h}x{w} = {}", h * w)
            }
        }
    }
}

impl std::error::Error for TileError {}

/// Values per tile in `tile_stats`' output.
pub const TILE_FIELDS: usize = 5;

/// For each tile of a `tiles x tiles` grid over two `(h, w)` row-major
/// pictures `a` and `b` (tile `(i, j)` spans rows `i h / tiles` to
/// `(i + 1) h / tiles` and likewise columns, in row-major order), counting only
/// the pixels where `keep` is non-zero (every pixel without `keep`):
///
/// `[pixels in the tile, pixels kept, standard deviation of a, of b,
/// correlation of a and b]`
///
/// Standard deviations are the population's (numpy's `std`), the correlation
/// zero-mean and normalised, 0 when either side is flat (the product of their
/// norms under 1e-9); both NaN for a tile that keeps no pixel. Means first,
/// then the centred sums, in f64: the two-pass form numpy's `std` takes.
pub fn tile_stats(
    a: &[f64],
    b: &[f64],
    h: usize,
    w: usize,
    tiles: usize,
    keep: Option<&[u8]>,
) -> Result<Vec<f64>, TileError> {
    if h == 0 || w == 0 || tiles == 0 {
        return Err(TileError::Empty { h, w, tiles });
    }
    let length = |what: &'static str, len: usize| {
        if len == h * w {
            Ok(())
        } else {
            Err(TileError::Length { what, len, h, w })
        }
    };
    length("a", a.len())?;
    length("b", b.len())?;
    if let Some(k) = keep {
        length("keep", k.len())?;
    }
    let kept = |i: usize| keep.is_none_or(|k| k[i] != 0);
    let mut out = Vec::with_capacity(tiles * tiles * TILE_FIELDS);
    for ti in 0..tiles {
        let rows = ti * h / tiles..(ti + 1) * h / tiles;
        for tj in 0..tiles {
            let cols = tj * w / tiles..(tj + 1) * w / tiles;
            let pixels = rows.len() * cols.len();
            let (mut n, mut sa, mut sb) = (0usize, 0.0f64, 0.0f64);
            for y in rows.clone() {
                for i in y * w + cols.start..y * w + cols.end {
                    if kept(i) {
                        n += 1;
                        sa += a[i];
                        sb += b[i];
                    }
                }
            }
            if n == 0 {
                out.extend_from_slice(&[pixels as f64, 0.0, f64::NAN, f64::NAN, f64::NAN]);
                continue;
            }
            let (ma, mb) = (sa / n as f64, sb / n as f64);
            let (mut xx, mut yy, mut xy) = (0.0f64, 0.0f64, 0.0f64);
            for y in rows.clone() {
                for i in y * w + cols.start..y * w + cols.end {
                    if kept(i) {
                        let (x, z) = (a[i] - ma, b[i] - mb);
                        xx += x * x;
                        yy += z * z;
                        xy += x * z;
                    }
                }
            }
            let norm = (xx * yy).sqrt();
            let corr = if norm > 1e-9 { xy / norm } else { 0.0 };
            out.extend_from_slice(&[
                pixels as f64,
                n as f64,
                (xx / n as f64).sqrt(),
                (yy / n as f64).sqrt(),
                corr,
            ]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(h: usize, w: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..h * w)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 256) as f64
            })
            .collect()
    }

    #[test]
    fn a_picture_correlates_with_itself_and_its_gain_in_every_tile() {
        let (h, w) = (30, 41);
        let a = picture(h, w, 1);
        let b: Vec<f64> = a.iter().map(|v| 3.0 * v + 7.0).collect();
        let out = tile_stats(&a, &b, h, w, 3, None).unwrap();
        assert_eq!(out.len(), 9 * TILE_FIELDS);
        let total: f64 = out.chunks_exact(TILE_FIELDS).map(|t| t[0]).sum();
        assert_eq!(total, (h * w) as f64);
        for t in out.chunks_exact(TILE_FIELDS) {
            assert_eq!(t[0], t[1]);
            assert!((t[3] - 3.0 * t[2]).abs() < 1e-9);
            assert!((t[4] - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn only_kept_pixels_count_and_a_tile_with_none_is_nan() {
        let (h, w) = (8, 8);
        let a = picture(h, w, 2);
        let b = picture(h, w, 3);
        // Keep the left half only: the right tiles keep nothing.
        let keep: Vec<u8> = (0..h * w).map(|i| u8::from(i % w < 4)).collect();
        let out = tile_stats(&a, &b, h, w, 2, Some(&keep)).unwrap();
        let tiles: Vec<&[f64]> = out.chunks_exact(TILE_FIELDS).collect();
        assert_eq!(tiles[0][..2], [16.0, 16.0]);
        assert_eq!(tiles[1][..2], [16.0, 0.0]);
        assert!(tiles[1][2].is_nan() && tiles[1][4].is_nan());
        let full = tile_stats(&a, &b, h, w, 2, None).unwrap();
        assert_eq!(out[..TILE_FIELDS], full[..TILE_FIELDS]);
    }

    #[test]
    fn a_flat_tile_correlates_zero() {
        let (h, w) = (6, 6);
        let a = vec![5.0; h * w];
        let b = picture(h, w, 4);
        let out = tile_stats(&a, &b, h, w, 1, None).unwrap();
        assert_eq!(out[2], 0.0);
        assert_eq!(out[4], 0.0);
    }

    #[test]
    fn bad_shapes_are_refused() {
        let a = vec![0.0; 12];
        assert!(matches!(
            tile_stats(&a, &a, 3, 4, 0, None),
            Err(TileError::Empty { .. })
        ));
        assert!(matches!(
            tile_stats(&a, &a[..11], 3, 4, 2, None),
            Err(TileError::Length { what: "b", .. })
        ));
        assert!(matches!(
            tile_stats(&a, &a, 3, 4, 2, Some(&[1u8; 5])),
            Err(TileError::Length { what: "keep", .. })
        ));
    }
}
