//! The views of an album frame and their dHash rows, as `hashing.py` makes them
//! (`_view_boxes`, `_dhash_rows`), for the embedded-preview path that runs
//! without Python ([`crate::preview`]).
//!
//! Python is the reference: an index mixes rows made here with rows made by
//! `hashing.hash_grey`, so the two must agree to the last bit. Every float
//! step is therefore done as numpy does it, in the same order and precision:
//! Python's `round` (ties to even) for the view sizes, `np.linspace`'s
//! `i * (length / 9)` for the grid edges (the last edge set to `length`), the
//! summed-area table interpolated in f64 as `a + f * (b - a)`, the cell sums as
//! two successive differences, and `np.rint(sum / (dy * dx) * 65536)`.
//! `tests/test_preview_native.py` checks the rows against `hash_grey`.

/// Side of the dHash grid (9 x 9 cells give 8 x 8 gradient signs per word).
const GRID: usize = 9;
/// Side of the "inner" views, as a fraction of the frame's (`hashing.INNER`).
const INNER: f64 = 0.85;
/// Side of the "inner square" views, as a fraction of the short side
/// (`hashing.INNER_SQUARE`).
const INNER_SQUARE: f64 = 0.87;
/// uint64 words per row (`hashing.WORDS`).
pub const WORDS: usize = 2;

/// A view: its index into `hashing.VIEW_NAMES` and its `(top, left, height, width)`.
pub type ViewBox = (u8, [usize; 4]);

/// Python's `round(x)` of a non-negative float, as an integer (ties to even).
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// `hashing._view_boxes(h, w, album=True)`.
pub fn album_views(h: usize, w: usize) -> Vec<ViewBox> {
    let (hi, wi) = (h as i64, w as i64);
    let mut views: Vec<(u8, [i64; 4])> = vec![(0, [0, 0, hi, wi])];
    let side = hi.min(wi);
    if hi.max(wi) - side >= 2 {
        if wi > hi {
            let x = (wi - side) / 2;
            views.push((1, [0, x, hi, side]));
            views.push((2, [0, 0, hi, side]));
            views.push((3, [0, wi - side, hi, side]));
            let wide = py_round((hi * 4) as f64 / 3.0);
            if (wi as f64) > wide as f64 * 1.03 {
                views.push((4, [0, (wi - wide) / 2, hi, wide]));
            }
        } else {
            let y = (hi - side) / 2;
            views.push((1, [y, 0, side, wi]));
            views.push((2, [0, 0, side, wi]));
            views.push((3, [hi - side, 0, side, wi]));
            let tall = py_round((wi * 4) as f64 / 3.0);
            if (hi as f64) > tall as f64 * 1.03 {
                views.push((4, [(hi - tall) / 2, 0, tall, wi]));
            }
        }
    }
    let (ih, iw) = (py_round(hi as f64 * INNER), py_round(wi as f64 * INNER));
    let corners = [
        ((hi - ih) / 2, (wi - iw) / 2),
        (0, 0),
        (0, wi - iw),
        (hi - ih, 0),
        (hi - ih, wi - iw),
    ];
    for (view, (top, left)) in (5u8..).zip(corners) {
        views.push((view, [top, left, ih, iw]));
    }
    let (long_side, short_side) = (hi.max(wi), hi.min(wi));
    let band = py_round((long_side * 9) as f64 / 16.0);
    if short_side - band >= 2 && (short_side as f64) > band as f64 * 1.03 {
        let starts = [0, (short_side - band) / 2, short_side - band];
        for (view, start) in (10u8..).zip(starts) {
            let b = if wi >= hi {
                [start, 0, band, wi]
            } else {
                [0, start, hi, band]
            };
            views.push((view, b));
        }
    }
    let side = py_round(short_side as f64 * INNER_SQUARE);
    if long_side - side >= 2 && (long_side as f64) > short_side as f64 * 1.03 {
        let inset = (short_side - side) / 2;
        let starts = [0, (long_side - side) / 2, long_side - side];
        for (view, start) in (13u8..).zip(starts) {
            let (top, left) = if wi >= hi {
                (inset, start)
            } else {
                (start, inset)
            };
            views.push((view, [top, left, side, side]));
        }
    }
    // Every box lies inside the frame for any frame the preview path hashes
    // (at least 60 x 120); a smaller one clamps rather than indexing past it.
    views
        .into_iter()
        .map(|(v, b)| (v, b.map(|x| x.max(0) as usize)))
        .collect()
}

/// Grid corners of boxes along one axis (`hashing._grid_corners`): per box, the
/// table index below each of the 10 cell edges, the index above, the edge's
/// fraction between them, and the 9 cell widths.
struct Corners {
    below: Vec<[usize; GRID + 1]>,
    above: Vec<[usize; GRID + 1]>,
    frac: Vec<[f64; GRID + 1]>,
    width: Vec<[f64; GRID]>,
}

fn grid_corners(starts: &[usize], lengths: &[usize], n: usize) -> Corners {
    // np.linspace(0.0, length, 10, axis=-1) over all boxes at once: a zero step
    // in any box switches every box to `(i / 9) * length` (numpy's denormal guard).
    let div = GRID as f64;
    let any_step_zero = lengths.iter().any(|&l| l as f64 / div == 0.0);
    let mut out = Corners {
        below: Vec::with_capacity(starts.len()),
        above: Vec::with_capacity(starts.len()),
        frac: Vec::with_capacity(starts.len()),
        width: Vec::with_capacity(starts.len()),
    };
    for (&start, &length) in starts.iter().zip(lengths) {
        let delta = length as f64;
        let step = delta / div;
        let mut edges = [0.0f64; GRID + 1];
        for (i, e) in edges.iter_mut().enumerate() {
            let y = if any_step_zero {
                (i as f64 / div) * delta
            } else {
                i as f64 * step
            };
            *e = y + 0.0;
        }
        edges[GRID] = delta;
        let (mut below, mut above, mut frac) = ([0; GRID + 1], [0; GRID + 1], [0.0; GRID + 1]);
        for i in 0..=GRID {
            let lo = edges[i].floor();
            below[i] = start + lo as usize;
            above[i] = (below[i] + 1).min(n);
            frac[i] = edges[i] - lo;
        }
        let mut width = [0.0; GRID];
        for i in 0..GRID {
            width[i] = (edges[i + 1] - edges[i]).max(1e-9);
        }
        out.below.push(below);
        out.above.push(above);
        out.frac.push(frac);
        out.width.push(width);
    }
    out
}

/// `hashing._dhash_rows`: `WORDS` uint64 words per box of `grey` (`h` x `w`,
/// row-major), bits MSB-first in row-major order (see `hashing`'s module doc).
pub fn dhash_rows(grey: &[u8], h: usize, w: usize, boxes: &[[usize; 4]]) -> Vec<u64> {
    // sat[y][x] = sum of grey[..y][..x], exact: in u32 while 255 per pixel
    // fits (every preview: at most 4 MP), half the memory of i64 (a 160 x 120
    // frame's table then stays off the page-faulting mmap path of malloc).
    if h * w <= (u32::MAX / 255) as usize {
        rows_from_table(&summed_area::<u32>(grey, h, w), h, w, boxes)
    } else {
        rows_from_table(&summed_area::<u64>(grey, h, w), h, w, boxes)
    }
}

/// The summed-area table of `grey`, `(h + 1) x (w + 1)`, first row and column 0.
fn summed_area<T>(grey: &[u8], h: usize, w: usize) -> Vec<T>
where
    T: Copy + Default + std::ops::Add<Output = T> + From<u8>,
{
    let stride = w + 1;
    let mut sat = vec![T::default(); (h + 1) * stride];
    for (y, line) in grey.chunks_exact(w.max(1)).take(h).enumerate() {
        let (done, rest) = sat.split_at_mut((y + 1) * stride);
        let above = &done[y * stride + 1..];
        let row = &mut rest[1..stride];
        let mut run = T::default();
        for ((out, &up), &v) in row.iter_mut().zip(above).zip(line) {
            run = run + T::from(v);
            *out = up + run;
        }
    }
    sat
}

fn rows_from_table<T>(sat: &[T], h: usize, w: usize, boxes: &[[usize; 4]]) -> Vec<u64>
where
    T: Copy + Into<u64>,
{
    let stride = w + 1;
    let at = |i: usize| -> i64 { sat[i].into() as i64 };
    let tops: Vec<usize> = boxes.iter().map(|b| b[0]).collect();
    let lefts: Vec<usize> = boxes.iter().map(|b| b[1]).collect();
    let heights: Vec<usize> = boxes.iter().map(|b| b[2]).collect();
    let widths: Vec<usize> = boxes.iter().map(|b| b[3]).collect();
    let ys = grid_corners(&tops, &heights, h);
    let xs = grid_corners(&lefts, &widths, w);
    let mut rows = Vec::with_capacity(boxes.len() * WORDS);
    for v in 0..boxes.len() {
        let mut corners = [[0.0f64; GRID + 1]; GRID + 1];
        for (i, row) in corners.iter_mut().enumerate() {
            let (y0, y1, fy) = (ys.below[v][i], ys.above[v][i], ys.frac[v][i]);
            for (j, c) in row.iter_mut().enumerate() {
                let (x0, x1, fx) = (xs.below[v][j], xs.above[v][j], xs.frac[v][j]);
                let (s00, s01) = (at(y0 * stride + x0), at(y0 * stride + x1));
                let (s10, s11) = (at(y1 * stride + x0), at(y1 * stride + x1));
                let top = s00 as f64 + fx * ((s01 - s00) as f64);
                let bottom = s10 as f64 + fx * ((s11 - s10) as f64);
                *c = top + fy * (bottom - top);
            }
        }
        let mut grid = [[0.0f64; GRID]; GRID];
        for i in 0..GRID {
            let mut down = [0.0f64; GRID + 1];
            for (j, d) in down.iter_mut().enumerate() {
                *d = corners[i + 1][j] - corners[i][j];
            }
            for j in 0..GRID {
                let sum = down[j + 1] - down[j];
                let area = ys.width[v][i] * xs.width[v][j];
                grid[i][j] = (sum / area * 65536.0).round_ties_even();
            }
        }
        let (mut across, mut down) = (0u64, 0u64);
        for r in 0..8 {
            for c in 0..8 {
                let bit = 63 - (r * 8 + c);
                across |= u64::from(grid[r][c + 1] > grid[r][c]) << bit;
                down |= u64::from(grid[r + 1][c] > grid[r][c]) << bit;
            }
        }
        rows.push(across);
        rows.push(down);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_4_3_frame_has_the_15_views_of_hashing() {
        let views = album_views(120, 160);
        let ids: Vec<u8> = views.iter().map(|v| v.0).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(views[1].1, [0, 20, 120, 120]);
        // round(120 * 0.85) = 102, round(160 * 0.85) = 136.
        assert_eq!(views[4].1, [9, 12, 102, 136]);
        // round(160 * 9 / 16) = 90 rows of 16:9 bands.
        assert_eq!(views[9].1, [0, 0, 90, 160]);
    }

    #[test]
    fn python_round_is_ties_to_even() {
        assert_eq!(py_round(67.5), 68);
        assert_eq!(py_round(66.5), 66);
        assert_eq!(py_round(0.5), 0);
    }

    #[test]
    fn a_flat_frame_has_no_gradient_and_a_ramp_has_every_one() {
        let (h, w) = (60, 120);
        let flat = vec![77u8; h * w];
        assert_eq!(dhash_rows(&flat, h, w, &[[0, 0, h, w]]), vec![0, 0]);
        // Brighter to the right and downwards: every cell is above its left and upper neighbour.
        let ramp: Vec<u8> = (0..h * w).map(|i| ((i % w) + (i / w)) as u8).collect();
        assert_eq!(
            dhash_rows(&ramp, h, w, &[[0, 0, h, w]]),
            vec![u64::MAX, u64::MAX]
        );
    }

    #[test]
    fn bits_are_msb_first_in_row_major_order() {
        // One bright column at the far right of a 9 x 9 frame: only the last
        // horizontal step of each row rises, bit 63 - (r * 8 + 7).
        let (h, w) = (9, 9);
        let grey: Vec<u8> = (0..h * w)
            .map(|i| if i % w == 8 { 200 } else { 10 })
            .collect();
        let rows = dhash_rows(&grey, h, w, &[[0, 0, h, w]]);
        let want = (0..8).fold(0u64, |acc, r| acc | 1 << (63 - (r * 8 + 7)));
        assert_eq!(rows, vec![want, 0]);
    }
}
