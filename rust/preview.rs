//! Embedded EXIF previews read, decoded and hashed without Python: the
//! indexing fast path of `photomatch.preview`, rayon-parallel over a batch of
//! files, so that it uses every core (Python's version holds the GIL).
//!
//! For each file: open it read-only (never written: the album is read-only to
//! photomatch), read its header up to the first scan (never the whole file),
//! take the EXIF IFD0 Orientation and the IFD1 preview (JPEGInterchangeFormat
//! and its length), decode the preview to grey, remove uniform letterbox or
//! pillarbox bands, check its aspect against the photo's stored size, turn it
//! upright, check its size, and hash its views ([`crate::dhash`]).
//!
//! `photomatch.preview.read_preview` (Pillow) is the reference, and the rule
//! here is: **a preview accepted here is one Python accepts, with the same
//! pixels**. Whatever this code is not sure Pillow reads the same way (two
//! EXIF segments, an XMP orientation, a Photoshop segment, an odd TIFF tag
//! type, a CMYK preview, a damaged or truncated structure, ...) is declined,
//! and the caller then runs the Python path for that file, which decides as it
//! always did (and decodes the photo when it declines too). Declining is
//! always safe; accepting what Python would not is not. So the header is
//! scanned marker by marker as Pillow's `JpegImageFile` scans it, and the TIFF
//! directories as its `ImageFileDirectory_v2` reads them.
//!
//! The preview is decoded by libjpeg-turbo's own decoder (built from source by
//! `mozjpeg-sys`, whose decoder is libjpeg-turbo's), with Pillow's settings:
//! grey output (the Y component of a YCbCr JPEG, no chroma upsampling),
//! accurate integer IDCT, and DCT scaling by Pillow's `draft` rule. Pillow
//! decodes with libjpeg-turbo too, so the pixels agree to the bit. Measured on
//! 63 previews (the nine sample photographs at 160 x 120 4:2:0 and 4:4:4,
//! grey, 640 x 480, 600 px progressive, 2048 px scaled 1/8, 301 x 227): this
//! decoder gave Pillow's pixels on all 63; `zune-jpeg` 0.5 on none (about 1 %
//! of the pixels off by one, and no DCT scaling), `jpeg-decoder` 0.3 on none
//! (off by one on grey previews; no grey output of colour ones).
//!
//! Built without nasm, libjpeg-turbo runs its C IDCT where Pillow's wheels run
//! the SIMD one: the same pixels for every valid JPEG, but not for damaged
//! coefficients far out of range (the C version wraps around, SIMD
//! saturates). A damaged preview is therefore declined: on any libjpeg warning
//! (truncated data, a scan not used up exactly, ...) and on any block whose
//! coefficients could leave the range where the two agree
//! (`jpeg_decode::guarded_idct`).
//! Thousands of random byte flips in camera-style files
//! (`tests/test_preview_native.py`) found no preview taken here with rows
//! other than Python's.

use std::fs::File;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dhash;
use crate::jpeg_decode::decode_grey;
use crate::jpeg_header::{parse_exif, scan_jpeg, JpegHeader, Reader};
use crate::slide;

/// The limits of `photomatch.preview`, passed from Python so both paths share them.
#[derive(Debug, Clone)]
pub struct PreviewLimits {
    /// Largest photo (stored width x height) whose preview is used (`hashing.MAX_PIXELS`).
    pub max_pixels: u64,
    /// Largest preview decoded, in pixels (`preview.MAX_PREVIEW_PIXELS`).
    pub max_preview_pixels: u64,
    /// The decode box: a preview larger than this is decoded at 1/2, 1/4 or
    /// 1/8 scale, as Pillow's `draft("L", (box, box))` does (`hashing.DECODE_SIZE`).
    pub box_size: u32,
    /// `preview.ASPECT_TOLERANCE`.
    pub aspect_tolerance: f64,
    /// `preview.BAND_DEVIATION`, in grey levels.
    pub band_deviation: f64,
    /// `preview.MIN_SHORT_SIDE`, `preview.MIN_LONG_SIDE`, in pixels.
    pub min_short_side: usize,
    pub min_long_side: usize,
}

/// An upright grey frame, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The hashes of one file's preview, as `hashing.hash_grey(grey, album=True)` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewHashes {
    /// `dhash::WORDS` words per view, views in `view_ids` order.
    pub rows: Vec<u64>,
    /// Index of each view into `hashing.VIEW_NAMES`.
    pub view_ids: Vec<u8>,
    /// The upright preview's size (bands removed), in pixels.
    pub width: usize,
    pub height: usize,
    /// Its overview for the coarse look (`slide::overview`).
    pub overview: Vec<u8>,
}

/// The hashes of each file's preview, or None where this path declines it
/// (the caller then runs the Python path for that file). `threads`: 0 runs on
/// rayon's global pool, 1 in the calling thread, n a pool of n threads.
pub fn preview_hashes(
    paths: &[PathBuf],
    limits: &PreviewLimits,
    threads: usize,
) -> Vec<Option<PreviewHashes>> {
    let one = |p: &PathBuf| preview_hash(p, limits);
    match threads {
        0 => paths.par_iter().map(one).collect(),
        1 => paths.iter().map(one).collect(),
        n => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
            Ok(pool) => pool.install(|| paths.par_iter().map(one).collect()),
            Err(_) => paths.par_iter().map(one).collect(),
        },
    }
}

/// One file's preview hashes (see [`preview_hashes`]).
pub fn preview_hash(path: &Path, limits: &PreviewLimits) -> Option<PreviewHashes> {
    let grey = read_preview(path, limits)?;
    Some(hash_album_grey(&grey))
}

/// `hashing.hash_grey(grey, album=True)`, with the frame's overview.
pub fn hash_album_grey(grey: &Grey) -> PreviewHashes {
    let views = dhash::album_views(grey.height, grey.width);
    let boxes: Vec<[usize; 4]> = views.iter().map(|v| v.1).collect();
    PreviewHashes {
        rows: dhash::dhash_rows(&grey.pixels, grey.height, grey.width, &boxes),
        view_ids: views.iter().map(|v| v.0).collect(),
        width: grey.width,
        height: grey.height,
        overview: slide::overview(&grey.pixels, grey.height, grey.width),
    }
}

/// The upright grey preview of the JPEG at `path` (`preview._read_preview`), or None.
pub fn read_preview(path: &Path, limits: &PreviewLimits) -> Option<Grey> {
    let file = open_regular(path)?;
    let mut reader = Reader::new(file);
    let header = scan_jpeg(&mut reader).ok()?;
    drop(reader); // the file is closed before any decoding
    preview_of(&header, limits)
}

/// Opens `path` read-only without blocking (a FIFO never hangs the batch); None
/// unless it is a regular, non-empty file.
fn open_regular(path: &Path) -> Option<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && meta.len() > 0).then_some(file)
}

/// The preview described by a photo's header, decoded and checked.
fn preview_of(header: &JpegHeader, limits: &PreviewLimits) -> Option<Grey> {
    let (width, height) = (header.width as u64, header.height as u64);
    if width * height > limits.max_pixels || width < 1 || height < 1 {
        return None;
    }
    if header.exif_segments != 1 {
        return None; // none, or several (Pillow joins them: offsets would shift)
    }
    let raw = header.exif.as_deref()?;
    let exif = parse_exif(raw)?;
    if exif.orientation.is_none() && header.has_xmp {
        return None; // Pillow then takes the orientation from the XMP
    }
    // IFD offsets count from the TIFF header, after APP1's "Exif\0\0".
    let start = 6usize.checked_add(exif.preview_offset as usize)?;
    let end = start.checked_add(exif.preview_length as usize)?;
    if exif.preview_length == 0 || end > raw.len() {
        return None;
    }
    let data = &raw[start..end];
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut reader = Reader::new(data);
    let preview = scan_jpeg(&mut reader).ok()?;
    // No scan: Pillow would hand back a blank image. CMYK: Pillow converts it
    // to grey its own way. Both are left to Python.
    if !preview.has_scan || !(preview.components == 1 || preview.components == 3) {
        return None;
    }
    let (pw, ph) = (preview.width as u64, preview.height as u64);
    if pw * ph > limits.max_preview_pixels || pw < 1 || ph < 1 {
        return None;
    }
    let scale = draft_scale(preview.width, preview.height, limits.box_size);
    let grey = decode_grey(data, &preview, scale)?;
    let aspect = width as f64 / height as f64;
    let (top, bottom, left, right) = picture_window(&grey, aspect, limits)?;
    let window = crop(&grey, top, bottom, left, right);
    let upright = match exif.orientation {
        Some(o @ 2..=8) => transpose(&window, o),
        _ => window,
    };
    big_enough(upright, limits)
}

/// Pillow's `JpegImageFile.draft` scale: the largest of 8, 4, 2, 1 that fits
/// `min(width // box, height // box)`, else 1.
fn draft_scale(width: u32, height: u32, box_size: u32) -> u32 {
    let b = box_size.max(1);
    let fit = (width / b).min(height / b);
    [8, 4, 2, 1].into_iter().find(|&s| fit >= s).unwrap_or(1)
}

// ---------------------------------------------------------------------------
// Bands, orientation, size: `preview._picture_window`, `_uniform`, `_big_enough`.

/// `(top, bottom, left, right)` of the photo inside the preview, bands removed.
fn picture_window(
    grey: &Grey,
    aspect: f64,
    limits: &PreviewLimits,
) -> Option<(usize, usize, usize, usize)> {
    let (h, w) = (grey.height, grey.width);
    let (hf, wf) = (h as f64, w as f64);
    let tolerance = limits.aspect_tolerance;
    if ((wf / hf) / aspect - 1.0).abs() <= tolerance {
        return Some((0, h, 0, w));
    }
    let (top, bottom, left, right);
    if wf / hf < aspect {
        let band = (hf - wf / aspect) / 2.0;
        let (cut, edge) = cut_and_edge(band)?;
        if edge > h
            || !uniform(grey, 0, edge, 0, w, limits)
            || !uniform(grey, h - edge, h, 0, w, limits)
        {
            return None;
        }
        (top, bottom, left, right) = (cut, h.checked_sub(cut)?, 0, w);
    } else {
        let band = (wf - hf * aspect) / 2.0;
        let (cut, edge) = cut_and_edge(band)?;
        if edge > w
            || !uniform(grey, 0, h, 0, edge, limits)
            || !uniform(grey, 0, h, w - edge, w, limits)
        {
            return None;
        }
        (top, bottom, left, right) = (0, h, cut, w.checked_sub(cut)?);
    }
    if bottom <= top || right <= left {
        return None;
    }
    let inner = (right - left) as f64 / (bottom - top) as f64;
    if (inner / aspect - 1.0).abs() > tolerance {
        return None;
    }
    Some((top, bottom, left, right))
}

/// `int(np.ceil(band))` (the cut, at least 1) and `int(band)` (the band checked).
fn cut_and_edge(band: f64) -> Option<(usize, usize)> {
    let cut = band.ceil();
    if cut.is_nan() || cut < 1.0 || !band.is_finite() {
        return None;
    }
    Some((cut as usize, band.trunc() as usize))
}

/// `_uniform` of `grey[top:bottom, left:right]`: the mean absolute deviation
/// from the median, computed in float32 as numpy does (median of the middle
/// one or two values; pairwise sum in row-major order; the mean as float32 of
/// the float64 quotient), at most `band_deviation`.
fn uniform(
    grey: &Grey,
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
    limits: &PreviewLimits,
) -> bool {
    let n = (bottom - top) * (right - left);
    if n == 0 {
        return true;
    }
    let mut counts = [0usize; 256];
    for y in top..bottom {
        for &v in &grey.pixels[y * grey.width + left..y * grey.width + right] {
            counts[v as usize] += 1;
        }
    }
    let nth = |k: usize| -> f32 {
        let mut seen = 0;
        for (v, &c) in counts.iter().enumerate() {
            seen += c;
            if seen > k {
                return v as f32;
            }
        }
        255.0
    };
    let median = if n % 2 == 1 {
        nth(n / 2)
    } else {
        (nth(n / 2 - 1) + nth(n / 2)) / 2.0
    };
    let mut deviations = Vec::with_capacity(n);
    for y in top..bottom {
        for &v in &grey.pixels[y * grey.width + left..y * grey.width + right] {
            deviations.push((v as f32 - median).abs());
        }
    }
    let mean = (f64::from(pairwise_sum(&deviations)) / n as f64) as f32;
    f64::from(mean) <= limits.band_deviation
}

/// numpy's pairwise summation of float32 (`pairwise_sum_FLOAT`): blocks of up
/// to 128 summed in 8 interleaved accumulators, halves split at a multiple of 8.
fn pairwise_sum(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0f32;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f32; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[whole..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

fn crop(grey: &Grey, top: usize, bottom: usize, left: usize, right: usize) -> Grey {
    let (h, w) = (bottom - top, right - left);
    let mut pixels = Vec::with_capacity(h * w);
    for y in top..bottom {
        pixels.extend_from_slice(&grey.pixels[y * grey.width + left..y * grey.width + right]);
    }
    Grey {
        width: w,
        height: h,
        pixels,
    }
}

/// The frame turned upright for EXIF `orientation` 2-8, as Pillow's
/// `Image.transpose` with `preview._UPRIGHT`'s methods.
fn transpose(g: &Grey, orientation: u32) -> Grey {
    let (h, w) = (g.height, g.width);
    let src = &g.pixels;
    let mut pixels = Vec::with_capacity(h * w);
    let (oh, ow) = if orientation >= 5 { (w, h) } else { (h, w) };
    match orientation {
        // FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM: whole rows, reversed or reordered.
        2..=4 => {
            for y in 0..h {
                let from = if orientation == 2 { y } else { h - 1 - y };
                let line = &src[from * w..from * w + w];
                if orientation == 4 {
                    pixels.extend_from_slice(line);
                } else {
                    pixels.extend(line.iter().rev());
                }
            }
        }
        // TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90: output row y is input
        // column y (or w - 1 - y), read downwards (5, 8) or upwards (6, 7).
        _ => {
            for y in 0..oh {
                let col = if orientation == 5 || orientation == 6 {
                    y
                } else {
                    w - 1 - y
                };
                if orientation == 5 || orientation == 8 {
                    pixels.extend((0..h).map(|x| src[x * w + col]));
                } else {
                    pixels.extend((0..h).rev().map(|x| src[x * w + col]));
                }
            }
        }
    }
    Grey {
        width: ow,
        height: oh,
        pixels,
    }
}

fn big_enough(g: Grey, limits: &PreviewLimits) -> Option<Grey> {
    let (short, long) = (g.width.min(g.height), g.width.max(g.height));
    (short >= limits.min_short_side && long >= limits.min_long_side).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PreviewLimits {
        PreviewLimits {
            max_pixels: 200_000_000,
            max_preview_pixels: 4_000_000,
            box_size: 250,
            aspect_tolerance: 0.03,
            band_deviation: 6.0,
            min_short_side: 60,
            min_long_side: 120,
        }
    }

    /// A little-endian TIFF structure: IFD0 with `orientation`, IFD1 pointing at `preview`.
    fn tiff(
        orientation: Option<u16>,
        preview: &[u8],
        offset_shift: i64,
        length_shift: i64,
    ) -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        let ifd0_entries: Vec<(u16, u16, u32, u32)> = orientation
            .map(|o| vec![(0x0112u16, 3u16, 1u32, u32::from(o))])
            .unwrap_or_default();
        let ifd0_len = 2 + 12 * ifd0_entries.len() + 4;
        let ifd1_at = 8 + ifd0_len;
        let ifd1_len = 2 + 12 * 2 + 4;
        let preview_at = ifd1_at + ifd1_len;
        t.extend_from_slice(&(ifd0_entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in &ifd0_entries {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        }
        t.extend_from_slice(&(ifd1_at as u32).to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        for (tag, value) in [
            (0x0201u16, (preview_at as i64 + offset_shift) as u32),
            (0x0202u16, (preview.len() as i64 + length_shift) as u32),
        ] {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&4u16.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(preview);
        t
    }

    /// A JPEG header: SOI, an Exif APP1 holding `tiff`, a SOF0 of `w` x `h`, SOS.
    fn jpeg_with_exif(tiff: &[u8], w: u16, h: u16) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1];
        j.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        j.extend_from_slice(b"Exif\0\0");
        j.extend_from_slice(tiff);
        j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        j.extend_from_slice(&h.to_be_bytes());
        j.extend_from_slice(&w.to_be_bytes());
        j.extend_from_slice(&[1, 1, 0x11, 0]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        j
    }

    fn header_of(bytes: &[u8]) -> Option<JpegHeader> {
        scan_jpeg(&mut Reader::new(bytes)).ok()
    }

    #[test]
    fn the_header_scan_finds_size_exif_and_scan() {
        let t = tiff(Some(6), b"\xFF\xD8junk", 0, 0);
        let h = header_of(&jpeg_with_exif(&t, 4000, 3000)).unwrap();
        assert_eq!((h.width, h.height, h.components), (4000, 3000, 1));
        assert!(h.has_scan && h.exif_segments == 1);
        let mut raw = b"Exif\0\0".to_vec();
        raw.extend_from_slice(&t);
        let exif = parse_exif(&raw).unwrap();
        assert_eq!(exif.orientation, Some(6));
        assert_eq!(exif.preview_length, 6);
        assert_eq!(&raw[6 + exif.preview_offset as usize..][..2], b"\xFF\xD8");
    }

    #[test]
    fn every_truncation_of_a_header_is_declined_or_read_without_panic() {
        let t = tiff(Some(1), b"\xFF\xD8\xFF\xD9", 0, 0);
        let full = jpeg_with_exif(&t, 400, 300);
        for cut in 0..full.len() {
            let h = header_of(&full[..cut]);
            if let Some(h) = h {
                // Cut after the SOF: Pillow too reads a header without a scan.
                assert!(!h.has_scan);
                assert!(preview_of(&h, &limits()).is_none());
            }
        }
    }

    #[test]
    fn bogus_offsets_and_lengths_are_declined() {
        for (shift_offset, shift_length) in [(100_000, 0), (0, 100_000), (-1_000_000, 0), (0, -4)] {
            let t = tiff(Some(1), b"\xFF\xD8\xFF\xD9", shift_offset, shift_length);
            let h = header_of(&jpeg_with_exif(&t, 400, 300)).unwrap();
            assert!(preview_of(&h, &limits()).is_none());
        }
        // An IFD1 pointer past the end, and a TIFF header that is not one.
        let mut raw = b"Exif\0\0".to_vec();
        raw.extend_from_slice(&tiff(Some(1), b"", 0, 0));
        let mut bad = raw.clone();
        bad[6 + 8 + 2 + 12..6 + 8 + 2 + 12 + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert!(parse_exif(&bad).is_none());
        let mut bad = raw.clone();
        bad[6..10].copy_from_slice(b"XX*\0");
        assert!(parse_exif(&bad).is_none());
        let mut bad = raw;
        bad[6 + 8..6 + 10].copy_from_slice(&0xFFFFu16.to_le_bytes()); // 65535 entries
        assert!(parse_exif(&bad).is_none());
    }

    #[test]
    fn a_preview_that_is_not_a_jpeg_or_is_damaged_is_declined() {
        let l = limits();
        for preview in [
            &b"\xFF\xD8\xFF\xE0not really a jpeg at all"[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF\xC0\x00\x0b\x08\x00\x78\x00\xa0\x01\x01\x11\x00\xFF\xDA\x00\x08\x01\x01\x00\x00\x3f\x00garbage",
        ] {
            let t = tiff(Some(1), preview, 0, 0);
            let h = header_of(&jpeg_with_exif(&t, 400, 300)).unwrap();
            assert!(preview_of(&h, &l).is_none());
        }
    }

    #[test]
    fn a_preview_declaring_a_huge_size_is_not_decoded() {
        // 65535 x 65535 declared, a few bytes held: refused before libjpeg sees it.
        let preview = b"\xFF\xD8\xFF\xC0\x00\x0b\x08\xFF\xFF\xFF\xFF\x01\x01\x11\x00\xFF\xDA\x00\x08\x01\x01\x00\x00\x3f\x00";
        let t = tiff(Some(1), preview, 0, 0);
        let h = header_of(&jpeg_with_exif(&t, 400, 300)).unwrap();
        assert!(preview_of(&h, &limits()).is_none());
    }

    #[test]
    fn files_that_are_not_there_or_not_files_are_declined() {
        let l = limits();
        assert!(read_preview(Path::new("/nonexistent/photomatch/x.jpg"), &l).is_none());
        assert!(read_preview(Path::new("/"), &l).is_none());
        let out = preview_hashes(&[PathBuf::from("/nonexistent.jpg")], &l, 2);
        assert_eq!(out, vec![None]);
    }

    #[test]
    fn pairwise_sum_matches_a_plain_sum_on_exact_values() {
        for n in [0, 1, 7, 8, 9, 127, 128, 129, 1000, 5000] {
            let a: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.5).collect();
            let exact: f64 = a.iter().map(|&x| f64::from(x)).sum();
            assert_eq!(f64::from(pairwise_sum(&a)), exact, "n={n}");
        }
    }

    #[test]
    fn the_eight_orientations_turn_a_frame_upright() {
        // 2 x 3 frame, values 0..6 row-major.
        let g = Grey {
            width: 3,
            height: 2,
            pixels: (0..6).collect(),
        };
        let px = |o| transpose(&g, o).pixels;
        assert_eq!(px(2), vec![2, 1, 0, 5, 4, 3]);
        assert_eq!(px(3), vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(px(4), vec![3, 4, 5, 0, 1, 2]);
        assert_eq!(px(5), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(px(6), vec![3, 0, 4, 1, 5, 2]);
        assert_eq!(px(7), vec![5, 2, 4, 1, 3, 0]);
        assert_eq!(px(8), vec![2, 5, 1, 4, 0, 3]);
        assert_eq!((transpose(&g, 6).width, transpose(&g, 6).height), (2, 3));
    }

    #[test]
    fn letterbox_bands_are_cut_when_uniform_only() {
        // A 4:3 photo's 160 x 120 preview of a 16:9 photo: 15-px black bands.
        let (w, h) = (160, 120);
        let mut pixels = vec![0u8; w * h];
        for y in 15..105 {
            for x in 0..w {
                pixels[y * w + x] = ((x * 7 + y * 3) % 200) as u8 + 30;
            }
        }
        let g = Grey {
            width: w,
            height: h,
            pixels,
        };
        let aspect = 16.0 / 9.0;
        assert_eq!(
            picture_window(&g, aspect, &limits()),
            Some((15, 105, 0, 160))
        );
        let mut noisy = g.clone();
        for x in 0..w {
            noisy.pixels[3 * w + x] = if x % 2 == 0 { 0 } else { 250 };
        }
        assert_eq!(picture_window(&noisy, aspect, &limits()), None);
    }
}
