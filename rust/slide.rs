//! The coarse look over a whole album: how well a small template fits
//! anywhere inside each of many small images, by normalised cross-correlation.
//!
//! photomatch keeps a tiny grey overview of every album photo in its index
//! (`overview.py`). When neither the hash search nor its second look finds a
//! file a thumbnail fits, the thumbnail, shrunk to a few sizes, is slid over
//! every overview: an off-centre crop lies a few percent from every hashed
//! view, but at some placement it still correlates with its own photo.

use rayon::prelude::*;
use std::fmt;

use crate::resize::area_resize;

/// Long side of an album overview, in pixels. Part of the index format: an
/// index made with another size is rebuilt. At 32 px an off-centre crop of
/// 80-95% of a photo still ranks its original first among 2,000 photos, and
/// an overview takes at most 1 KiB (a 3:2 photo 672 bytes).
pub const OVERVIEW_SIDE: usize = 32;

/// The size `(height, width)` of the overview of an `h x w` frame: its long
/// side shrunk to [`OVERVIEW_SIDE`] (a frame already that small is kept as it
/// is), the short side in proportion, rounded half up, at least 1.
pub fn overview_shape(h: usize, w: usize) -> (usize, usize) {
    let long = h.max(w);
    if long <= OVERVIEW_SIDE {
        return (h, w);
    }
    let scaled = |side: usize| ((side * OVERVIEW_SIDE + long / 2) / long).max(1);
    (scaled(h), scaled(w))
}

/// The overview of an upright grey `h x w` frame (row-major): area averages
/// to [`overview_shape`], rounded to whole grey levels. The hashes' frame
/// gives it, whether decoded or read from an embedded preview, so one
/// function makes it for both paths.
pub fn overview(pixels: &[u8], h: usize, w: usize) -> Vec<u8> {
    let (oh, ow) = overview_shape(h, w);
    if (oh, ow) == (h, w) || pixels.len() != h * w {
        return pixels.to_vec();
    }
    let values: Vec<f64> = pixels.iter().map(|&p| f64::from(p)).collect();
    match area_resize(&values, h, w, oh, ow, None) {
        Ok(out) => out
            .iter()
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect(),
        Err(_) => pixels.to_vec(), // unreachable: sizes checked above
    }
}

/// Why a slide was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SlideError {
    /// An image or the template has no pixels.
    Empty,
    /// `images.len()` is not a whole number of `h * w` images.
    Length { len: usize, h: usize, w: usize },
    /// The template does not fit inside the images.
    TooLarge {
        th: usize,
        tw: usize,
        h: usize,
        w: usize,
    },
    /// `template.len()` is not `th * tw`.
    Template { len: usize, th: usize, tw: usize },
}

impl fmt::Display for SlideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlideError::Empty => write!(f, "images and template must have at least one pixel"),
            SlideError::Length { len, h, w } => write!(
                f,
                "images holds {len} values, not a whole number of {h}x{w} images"
            ),
            SlideError::TooLarge { th, tw, h, w } => {
                write!(f, "a {th}x{tw} template does not fit inside {h}x{w} images")
            }
            SlideError::Template { len, th, tw } => {
                write!(f, "template holds {len} values, not {th}x{tw}")
            }
        }
    }
}

impl std::error::Error for SlideError {}

/// A template for [`best_ncc`]: `th x tw` values, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Template<'a> {
    pub values: &'a [f64],
    pub th: usize,
    pub tw: usize,
}

/// A template made zero-mean and unit-norm, in f32: products in f32, 8 lanes
/// at a time, are several times faster than f64 and change a score by about
/// 1e-6, enough to rank files for the pixel check.
struct Unit {
    values: Vec<f32>,
    th: usize,
    tw: usize,
}

/// For each `h x w` image stacked in `images` (row-major, one after another),
/// the highest normalised cross-correlation of any of the `templates` at any
/// placement of it inside the image (whole pixels). A placement whose pixels
/// are all alike (no variance), or a template that is, scores 0; so does an
/// image when no template is given.
///
/// Each image's pixels and integral images are made once for all templates.
/// Runs on rayon's pool, one image per task; the result does not depend on the
/// number of threads.
pub fn best_ncc(
    images: &[u8],
    h: usize,
    w: usize,
    templates: &[Template<'_>],
) -> Result<Vec<f32>, SlideError> {
    if h == 0 || w == 0 {
        return Err(SlideError::Empty);
    }
    if !images.len().is_multiple_of(h * w) {
        return Err(SlideError::Length {
            len: images.len(),
            h,
            w,
        });
    }
    let mut units = Vec::with_capacity(templates.len());
    for &Template { values, th, tw } in templates {
        if th == 0 || tw == 0 {
            return Err(SlideError::Empty);
        }
        if values.len() != th * tw {
            return Err(SlideError::Template {
                len: values.len(),
                th,
                tw,
            });
        }
        if th > h || tw > w {
            return Err(SlideError::TooLarge { th, tw, h, w });
        }
        let mean = values.iter().sum::<f64>() / (th * tw) as f64;
        let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
        let norm = centred.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 1e-9 {
            let values = centred.iter().map(|v| (v / norm) as f32).collect();
            units.push(Unit { values, th, tw });
        }
    }
    let count = images.len() / (h * w);
    if units.is_empty() {
        return Ok(vec![0.0; count]);
    }
    Ok(images
        .par_chunks_exact(h * w)
        .map_init(
            || Scratch::new(h, w),
            |scratch, image| {
                scratch.fill(image, w);
                units.iter().map(|u| scratch.best(u)).fold(0.0f64, f64::max) as f32
            },
        )
        .collect())
}

/// One image's pixels and integral images, in a worker's buffers (made once
/// per task split rather than once per image: at 32 px the allocations cost
/// as much as the sums).
struct Scratch {
    h: usize,
    w: usize,
    pixels: Vec<f32>,
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Scratch {
    fn new(h: usize, w: usize) -> Scratch {
        // Row 0 and column 0 of the integral images stay 0; the rest is
        // written for every image.
        Scratch {
            h,
            w,
            pixels: vec![0.0; h * w],
            sum: vec![0.0; (h + 1) * (w + 1)],
            sq: vec![0.0; (h + 1) * (w + 1)],
        }
    }

    /// Takes in one `h x w` image: its pixels as f32, and the integral images
    /// of the pixels and their squares (each placement's sum and sum of
    /// squares in four lookups).
    fn fill(&mut self, image: &[u8], w: usize) {
        for (to, &p) in self.pixels.iter_mut().zip(image) {
            *to = f32::from(p);
        }
        let stride = w + 1;
        for y in 0..self.h {
            let (mut row_sum, mut row_sq) = (0.0, 0.0);
            for x in 0..w {
                let v = f64::from(image[y * w + x]);
                row_sum += v;
                row_sq += v * v;
                self.sum[(y + 1) * stride + x + 1] = self.sum[y * stride + x + 1] + row_sum;
                self.sq[(y + 1) * stride + x + 1] = self.sq[y * stride + x + 1] + row_sq;
            }
        }
    }

    /// The best correlation of one unit template over the image taken in.
    fn best(&self, unit: &Unit) -> f64 {
        let (h, w, th, tw) = (self.h, self.w, unit.th, unit.tw);
        let stride = w + 1;
        let box_of = |table: &[f64], y: usize, x: usize| {
            table[(y + th) * stride + x + tw]
                - table[y * stride + x + tw]
                - table[(y + th) * stride + x]
                + table[y * stride + x]
        };
        let n = (th * tw) as f64;
        let mut best = 0.0f64;
        for y in 0..=h - th {
            for x in 0..=w - tw {
                let s = box_of(&self.sum, y, x);
                let var = box_of(&self.sq, y, x) - s * s / n;
                if var <= 1e-6 * n {
                    continue;
                }
                // The template is zero-mean, so its dot product with the raw
                // pixels equals that with the placement's pixels less their mean.
                let mut dot = 0.0f64;
                for (i, trow) in unit.values.chunks_exact(tw).enumerate() {
                    let start = (y + i) * w + x;
                    dot += f64::from(dot_f32(trow, &self.pixels[start..start + tw]));
                }
                best = best.max(dot / var.sqrt());
            }
        }
        best
    }
}

/// The dot product of two equally long slices, in eight independent lanes
/// (which the compiler turns into SIMD).
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(
        images: &[u8],
        h: usize,
        w: usize,
        values: &[f64],
        th: usize,
        tw: usize,
    ) -> Result<Vec<f32>, SlideError> {
        best_ncc(images, h, w, &[Template { values, th, tw }])
    }

    /// A smooth, varied test pattern (no two placements alike).
    fn pattern(h: usize, w: usize) -> Vec<u8> {
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f64, (i % w) as f64);
                (128.0 + 60.0 * (x * 0.37).sin() * (y * 0.23).cos() + 3.0 * y - 2.0 * x)
                    .clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    fn cut(image: &[u8], w: usize, y: usize, x: usize, th: usize, tw: usize) -> Vec<f64> {
        (0..th)
            .flat_map(|i| (0..tw).map(move |j| (i, j)))
            .map(|(i, j)| f64::from(image[(y + i) * w + x + j]))
            .collect()
    }

    #[test]
    fn a_window_cut_from_an_image_fits_it_exactly() {
        let img = pattern(24, 32);
        let t = cut(&img, 32, 5, 9, 12, 14);
        let got = one(&img, 24, 32, &t, 12, 14).unwrap();
        assert!((got[0] - 1.0).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn each_image_gets_its_own_score_in_order() {
        let a = pattern(24, 32);
        let b: Vec<u8> = a.iter().rev().copied().collect();
        let t = cut(&a, 32, 3, 4, 10, 10);
        let both: Vec<u8> = b.iter().chain(&a).copied().collect();
        let got = one(&both, 24, 32, &t, 10, 10).unwrap();
        assert_eq!(got.len(), 2);
        assert!((got[1] - 1.0).abs() < 1e-6);
        assert!(got[0] < 0.99, "{got:?}");
    }

    #[test]
    fn a_brightness_and_contrast_change_does_not_matter() {
        let img = pattern(24, 32);
        let t: Vec<f64> = cut(&img, 32, 2, 2, 16, 20)
            .iter()
            .map(|v| 0.5 * v + 40.0)
            .collect();
        let got = one(&img, 24, 32, &t, 16, 20).unwrap();
        assert!((got[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn flat_templates_and_flat_images_score_zero() {
        let img = pattern(8, 8);
        assert_eq!(one(&img, 8, 8, &[7.0; 16], 4, 4).unwrap(), vec![0.0]);
        let flat = vec![9u8; 64];
        let t = cut(&img, 8, 0, 0, 4, 4);
        assert_eq!(one(&flat, 8, 8, &t, 4, 4).unwrap(), vec![0.0]);
    }

    #[test]
    fn bad_shapes_are_refused() {
        let img = pattern(8, 8);
        assert_eq!(
            one(&img[..63], 8, 8, &[0.0; 4], 2, 2),
            Err(SlideError::Length {
                len: 63,
                h: 8,
                w: 8
            })
        );
        assert_eq!(
            one(&img, 8, 8, &[0.0; 90], 9, 10),
            Err(SlideError::TooLarge {
                th: 9,
                tw: 10,
                h: 8,
                w: 8
            })
        );
        assert_eq!(
            one(&img, 8, 8, &[0.0; 3], 2, 2),
            Err(SlideError::Template {
                len: 3,
                th: 2,
                tw: 2
            })
        );
        assert_eq!(one(&img, 0, 8, &[0.0; 4], 2, 2), Err(SlideError::Empty));
    }

    #[test]
    fn overviews_keep_the_aspect_and_shrink_only() {
        assert_eq!(overview_shape(3000, 4000), (24, 32));
        assert_eq!(overview_shape(250, 167), (32, 21));
        assert_eq!(overview_shape(10, 1000), (1, 32));
        assert_eq!(overview_shape(20, 30), (20, 30));
        let img = pattern(20, 30);
        assert_eq!(overview(&img, 20, 30), img);
    }

    #[test]
    fn an_overview_is_the_area_average() {
        // 64 x 64 of 2 x 2 blocks of one value each: the 32 x 32 overview is those values.
        let blocks: Vec<u8> = (0..32 * 32).map(|i| (i * 7 % 251) as u8).collect();
        let img: Vec<u8> = (0..64 * 64)
            .map(|i| blocks[(i / 64 / 2) * 32 + (i % 64) / 2])
            .collect();
        assert_eq!(overview(&img, 64, 64), blocks);
    }

    #[test]
    fn several_templates_score_their_best() {
        let img = pattern(24, 32);
        let a = cut(&img, 32, 5, 9, 12, 14);
        let b: Vec<f64> = cut(&img, 32, 1, 1, 10, 10).iter().rev().copied().collect();
        let both = best_ncc(
            &img,
            24,
            32,
            &[
                Template {
                    values: &b,
                    th: 10,
                    tw: 10,
                },
                Template {
                    values: &a,
                    th: 12,
                    tw: 14,
                },
            ],
        )
        .unwrap();
        let alone_b = one(&img, 24, 32, &b, 10, 10).unwrap();
        assert!(
            (both[0] - 1.0).abs() < 1e-6 && alone_b[0] < 0.99,
            "{both:?} {alone_b:?}"
        );
        assert_eq!(best_ncc(&img, 24, 32, &[]).unwrap(), vec![0.0]);
    }

    #[test]
    fn no_images_give_no_scores() {
        assert_eq!(
            one(&[], 8, 8, &[1.0, 2.0, 3.0, 4.0], 2, 2).unwrap(),
            Vec::<f32>::new()
        );
    }
}
