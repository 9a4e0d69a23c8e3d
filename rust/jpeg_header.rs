//! JPEG headers and their EXIF, read as Pillow reads them (`JpegImageFile._open`,
//! `ImageFileDirectory_v2.load`), for the preview path ([`crate::preview`]).
//!
//! Only what the preview path needs is kept: the photo's size, its first
//! "Exif" APP1 segment, whether it has XMP, and whether a scan starts; then,
//! from the EXIF, the IFD0 Orientation and the IFD1 preview offset and length.
//! Whatever Pillow would read differently, or fail on, is a [`Decline`]: the
//! caller then leaves the file to Python.

use std::io::{self, Read};

/// Most header bytes read before the first scan: real headers (EXIF with its
/// preview, ICC, XMP) are well under a megabyte; a file declaring more is left
/// to the Python path.
const MAX_HEADER_BYTES: usize = 16 << 20;
/// Bytes asked of the file per read: a camera's header (EXIF with a 160 x 120
/// preview, then the tables and SOF) takes one or two.
const READ_CHUNK: usize = 16 << 10;

/// Why a header scan stopped without a result: the file is left to Python.
#[derive(Debug)]
pub(crate) struct Decline;

/// Bytes of a file (or a slice) read on demand, from the start.
pub(crate) struct Reader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Reads until `upto` bytes are held or the input ends.
    fn fill(&mut self, upto: usize) -> Result<(), Decline> {
        if upto > MAX_HEADER_BYTES {
            return Err(Decline);
        }
        while self.buf.len() < upto && !self.eof {
            let want = (upto - self.buf.len()).max(READ_CHUNK) as u64;
            // read_to_end on a bounded reader fills spare capacity without
            // zeroing it first.
            match (&mut self.inner).take(want).read_to_end(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Decline),
            }
        }
        Ok(())
    }

    /// The byte at `pos`, None past the end of the input.
    fn byte(&mut self, pos: usize) -> Result<Option<u8>, Decline> {
        self.fill(pos + 1)?;
        Ok(self.buf.get(pos).copied())
    }

    /// `n` bytes at `pos`, or Decline when the input ends before them.
    fn bytes(&mut self, pos: usize, n: usize) -> Result<&[u8], Decline> {
        let end = pos.checked_add(n).ok_or(Decline)?;
        self.fill(end)?;
        self.buf.get(pos..end).ok_or(Decline)
    }
}

/// What photomatch needs of a JPEG header.
#[derive(Debug, Default)]
pub(crate) struct JpegHeader {
    /// From the last SOF segment (Pillow keeps the last).
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// 0 until a SOF segment is read.
    pub(crate) components: u8,
    /// The first "Exif\0\0" APP1 segment's payload, and how many there were.
    pub(crate) exif: Option<Vec<u8>>,
    pub(crate) exif_segments: u32,
    /// An XMP APP1 segment was seen (Pillow reads an Orientation from it).
    pub(crate) has_xmp: bool,
    /// The scan started (Pillow's `tile` is set only then).
    pub(crate) has_scan: bool,
}

/// What Pillow's marker table does with a marker.
#[derive(Clone, Copy, PartialEq)]
enum Marker {
    Sof,
    Skip,
    Nothing,
    Dqt,
    App,
    Com,
}

fn marker_kind(marker: u16) -> Option<Marker> {
    Some(match marker {
        0xFFC0..=0xFFC3 | 0xFFC5..=0xFFC7 | 0xFFC9..=0xFFCB | 0xFFCD..=0xFFCF | 0xFFDE => {
            Marker::Sof
        }
        0xFFC4 | 0xFFCC | 0xFFDA | 0xFFDC | 0xFFDD | 0xFFDF => Marker::Skip,
        0xFFC8 | 0xFFD0..=0xFFD9 | 0xFFF0..=0xFFFD => Marker::Nothing,
        0xFFDB => Marker::Dqt,
        0xFFE0..=0xFFEF => Marker::App,
        0xFFFE => Marker::Com,
        _ => return None,
    })
}

/// Scans a JPEG header up to its first scan (or its end) as `JpegImageFile._open` does.
pub(crate) fn scan_jpeg<R: Read>(r: &mut Reader<R>) -> Result<JpegHeader, Decline> {
    if r.bytes(0, 3)? != [0xFF, 0xD8, 0xFF] {
        return Err(Decline);
    }
    let mut header = JpegHeader::default();
    let mut pos = 3;
    let mut current = Some(0xFFu8);
    while let Some(b) = current {
        if b != 0xFF {
            // Junk between segments is skipped a byte at a time.
            current = r.byte(pos)?;
            pos += 1;
            continue;
        }
        let Some(second) = r.byte(pos)? else { break };
        pos += 1;
        let marker = 0xFF00 | u16::from(second);
        match marker_kind(marker) {
            Some(kind) => {
                if kind != Marker::Nothing {
                    pos = segment(r, pos, marker, kind, &mut header)?;
                }
                if marker == 0xFFDA {
                    header.has_scan = true;
                    break;
                }
                current = r.byte(pos)?;
                pos += 1;
            }
            None if marker == 0xFFFF => current = Some(0xFF),
            None if marker == 0xFF00 => {
                current = r.byte(pos)?;
                pos += 1;
            }
            None => return Err(Decline), // Pillow: "no marker found"
        }
    }
    if header.components == 0 || header.width == 0 || header.height == 0 {
        return Err(Decline);
    }
    Ok(header)
}

/// Reads the segment whose length field is at `pos`; returns the position after it.
fn segment<R: Read>(
    r: &mut Reader<R>,
    pos: usize,
    marker: u16,
    kind: Marker,
    header: &mut JpegHeader,
) -> Result<usize, Decline> {
    let field = r.bytes(pos, 2)?;
    let length = usize::from(u16::from_be_bytes([field[0], field[1]]));
    // Under 2, Pillow reads to the end of the file: left to Python.
    let n = length.checked_sub(2).ok_or(Decline)?;
    let s = r.bytes(pos + 2, n)?;
    match kind {
        Marker::App => app_segment(marker, s, header)?,
        Marker::Sof => {
            // Shorter than Pillow indexes, another depth, a layer count it
            // refuses, or a component list that ends in a partial entry (Pillow
            // reads it 3 bytes at a time): Pillow fails on it.
            if s.len() < 6 || s[0] != 8 || !matches!(s[5], 1 | 3 | 4) || (s.len() - 6) % 3 != 0 {
                return Err(Decline);
            }
            header.height = u32::from(u16::from_be_bytes([s[1], s[2]]));
            header.width = u32::from(u16::from_be_bytes([s[3], s[4]]));
            header.components = s[5];
        }
        Marker::Dqt => {
            let mut t = s;
            while let Some(&v) = t.first() {
                let table = 1 + if v / 16 == 0 { 64 } else { 128 };
                if t.len() < table {
                    return Err(Decline); // "bad quantization table marker"
                }
                t = &t[table..];
            }
        }
        Marker::Skip | Marker::Com | Marker::Nothing => {}
    }
    Ok(pos + 2 + n)
}

/// The APPn segments Pillow looks inside; those its parser could fail on are declined.
fn app_segment(marker: u16, s: &[u8], header: &mut JpegHeader) -> Result<(), Decline> {
    match marker {
        0xFFE0 if s.starts_with(b"JFIF") && s.len() < 7 => Err(Decline),
        0xFFE1 if s.starts_with(b"Exif\0\0") => {
            header.exif_segments += 1;
            if header.exif.is_none() {
                header.exif = Some(s.to_vec());
            }
            Ok(())
        }
        0xFFE1 if s.starts_with(b"http://ns.adobe.com/xap/1.0/\0") => {
            header.has_xmp = true;
            Ok(())
        }
        // Pillow indexes byte 13 of the first ICC chunk when it meets the SOF.
        0xFFE2 if s.starts_with(b"ICC_PROFILE\0") && s.len() < 14 => Err(Decline),
        // Pillow walks Photoshop resource blocks with unchecked indexing.
        0xFFED if s.starts_with(b"Photoshop 3.0\0") => Err(Decline),
        0xFFEE if s.starts_with(b"Adobe") && s.len() < 7 => Err(Decline),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// EXIF: the TIFF directories IFD0 and IFD1, read as Pillow reads them.

/// What the preview path takes from EXIF.
#[derive(Debug, PartialEq)]
pub(crate) struct Exif {
    /// IFD0 Orientation, None when the tag is absent.
    pub(crate) orientation: Option<u32>,
    /// IFD1 JPEGInterchangeFormat (from the TIFF header) and its length.
    pub(crate) preview_offset: u32,
    pub(crate) preview_length: u32,
}

/// One stored IFD entry: type, count and its 4-byte value field.
#[derive(Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    value: [u8; 4],
}

struct Ifd {
    entries: Vec<Entry>,
    next: u32,
}

/// Bytes per value of the TIFF types Pillow reads (others it skips).
fn unit_size(kind: u16) -> Option<u64> {
    Some(match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 => 8,
        _ => return None,
    })
}

/// `raw` is the APP1 payload, "Exif\0\0" first. None declines.
pub(crate) fn parse_exif(raw: &[u8]) -> Option<Exif> {
    let data = raw.strip_prefix(b"Exif\0\0")?;
    if data.starts_with(b"Exif\0\0") || data.len() < 8 {
        return None; // Pillow strips a second prefix that the preview offset does not
    }
    let little = match &data[..4] {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let ifd0 = read_ifd(data, read_u32(&data[4..8], little), little)?;
    let orientation = match find(&ifd0, 0x0112) {
        None => None,
        Some(e) => Some(single_integer(&e, little)?),
    };
    if ifd0.next == 0 {
        return None;
    }
    let ifd1 = read_ifd(data, ifd0.next, little)?;
    let offset = single_integer(&find(&ifd1, 0x0201)?, little)?;
    let length = single_integer(&find(&ifd1, 0x0202)?, little)?;
    Some(Exif {
        orientation,
        preview_offset: offset,
        preview_length: length,
    })
}

fn read_u16(b: &[u8], little: bool) -> u16 {
    let a = [b[0], b[1]];
    if little {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn read_u32(b: &[u8], little: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if little {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

fn find(ifd: &Ifd, tag: u16) -> Option<Entry> {
    ifd.entries.iter().find(|e| e.tag == tag).copied()
}

/// A SHORT or LONG of count 1, the only shapes read here (Pillow reads others
/// differently: a BYTE as bytes, a longer array by its first value).
fn single_integer(e: &Entry, little: bool) -> Option<u32> {
    match (e.kind, e.count) {
        (3, 1) => Some(u32::from(read_u16(&e.value, little))),
        (4, 1) => Some(read_u32(&e.value, little)),
        _ => None,
    }
}

/// The directory at `offset` of the TIFF structure `data`; None when any part
/// of it (entries, out-of-line values, next pointer) lies outside `data`,
/// where Pillow would read it partly.
fn read_ifd(data: &[u8], offset: u32, little: bool) -> Option<Ifd> {
    let start = offset as usize;
    let count = usize::from(read_u16(data.get(start..start.checked_add(2)?)?, little));
    let end = start + 2 + 12 * count;
    let next = read_u32(data.get(end..end + 4)?, little);
    let limit = data.len() as u64;
    let mut entries: Vec<Entry> = Vec::new();
    let mut total = 0u64;
    for raw in data[start + 2..end].chunks_exact(12) {
        let tag = read_u16(&raw[0..2], little);
        if entries.iter().any(|e| e.tag == tag) {
            continue; // the first of a repeated tag counts
        }
        let kind = read_u16(&raw[2..4], little);
        let count = read_u32(&raw[4..8], little);
        let Some(unit) = unit_size(kind) else {
            continue;
        };
        let size = u64::from(count) * unit;
        let value = [raw[8], raw[9], raw[10], raw[11]];
        if size > 4 {
            total += size;
            let at = u64::from(read_u32(&value, little));
            if total > limit || at + size > limit {
                return None;
            }
        }
        if size == 0 {
            continue;
        }
        entries.push(Entry {
            tag,
            kind,
            count,
            value,
        });
    }
    Some(Ifd { entries, next })
}
