//! Hamming-distance kernels over packed bit hashes (pure Rust, no Python).
//!
//! A hash is `w` consecutive `u64` words. A set of hashes is a row-major slice
//! whose length is a multiple of `w`: `queries` holds Q rows, `album` N rows.
//!
//! The main kernel, [`hamming_topk`], returns for every query the `k` album rows
//! nearest in Hamming distance, ordered by `(distance, row index)`. That order
//! is total (row indices are unique), so the result is fully determined by the
//! input: it does not depend on how the work is split or on the thread count.
//!
//! The target workload is a few hundred queries against an album of about a
//! million rows, so parallelising over queries alone is not enough (Q can be 1),
//! and a query-at-a-time scan would stream the whole album from memory once per
//! query. Instead the album is cut into chunks, each chunk is scanned by one
//! rayon task for a group of queries, and each task walks its chunk in tiles
//! small enough to stay in L1 while every query of the group is compared
//! against them. Each task keeps a bounded top-k per query; the per-chunk lists
//! are merged per query at the end. The chunks of one query share a bound on
//! its k-th distance ([`Best::sync`]), so that only the first chunks pay for
//! filling a top-k from scratch.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

/// Largest supported `w`: a distance is at most `64 * w` and must stay below
/// `u32::MAX`, which the selection code uses as "accept anything".
pub const MAX_WORDS: usize = (u32::MAX / 64) as usize;

/// Invalid arguments to a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// `w`, the number of `u64` words per hash, was 0.
    ZeroWidth,
    /// `w` was larger than [`MAX_WORDS`].
    WidthTooLarge { w: usize },
    /// `k` was 0.
    ZeroK,
    /// A flat input's length is not a whole number of `w`-word rows.
    LengthNotMultiple {
        arg: &'static str,
        len: usize,
        w: usize,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::ZeroWidth => {
                write!(f, "w (u64 words per hash) must be at least 1, got 0")
            }
            KernelError::WidthTooLarge { w } => write!(
                f,
                "w (u64 words per hash) must be at most {MAX_WORDS}, got {w}"
            ),
            KernelError::ZeroK => write!(f, "k must be at least 1, got 0"),
            KernelError::LengthNotMultiple { arg, len, w } => write!(
                f,
                "{arg} has {len} u64 words, which is not a multiple of w={w} words per hash"
            ),
        }
    }
}

impl std::error::Error for KernelError {}

/// Returns, for each query, the `min(k, N)` album rows nearest in Hamming
/// distance, as `(indices, distances)`, both Q × `min(k, N)` row-major.
///
/// Each query's row is sorted by `(distance, album row index)` ascending, so
/// equal distances come out in row order. An empty album (N = 0) gives empty
/// outputs (Q × 0), as does Q = 0.
///
/// Errors: `w == 0`, `w > MAX_WORDS`, `k == 0`, or an input length that is not
/// a multiple of `w`.
pub fn hamming_topk(
    queries: &[u64],
    album: &[u64],
    w: usize,
    k: usize,
) -> Result<(Vec<i64>, Vec<u32>), KernelError> {
    check_width(w)?;
    if k == 0 {
        return Err(KernelError::ZeroK);
    }
    check_rows("queries", queries, w)?;
    check_rows("album", album, w)?;
    let (q, n) = (queries.len() / w, album.len() / w);
    Ok(topk_planned(
        Isa::detect(),
        Plan::new(q, n),
        queries,
        album,
        w,
        k,
    ))
}

/// [`hamming_topk`] over an album held as several row arrays (shards), without
/// concatenating them: shard `s`'s rows are album rows `offset_s ..`, where
/// `offset_s` is the number of rows in the shards before it. The result equals
/// `hamming_topk` on the concatenation, ties included (same `(distance, row)`
/// order), and costs about as much: the shards are cut into the same chunks
/// and the chunks of one query share their bound on its k-th distance, across
/// shards too. Shards may be empty or smaller than `k`.
///
/// Errors: as [`hamming_topk`], for the queries or any shard.
pub fn hamming_topk_shards(
    queries: &[u64],
    shards: &[&[u64]],
    w: usize,
    k: usize,
) -> Result<(Vec<i64>, Vec<u32>), KernelError> {
    check_width(w)?;
    if k == 0 {
        return Err(KernelError::ZeroK);
    }
    check_rows("queries", queries, w)?;
    for shard in shards {
        check_rows("shard", shard, w)?;
    }
    let q = queries.len() / w;
    let n: usize = shards.iter().map(|s| s.len() / w).sum();
    let plan = Plan::new(q, n);
    let mut pieces = Vec::new();
    let mut offset = 0;
    for shard in shards {
        pieces.extend(cut(shard, offset, plan.chunk_rows, w));
        offset += shard.len() / w;
    }
    Ok(topk_pieces(
        Isa::detect(),
        plan.group_size,
        queries,
        &pieces,
        n,
        w,
        k,
    ))
}

/// Full Q × N matrix of Hamming distances (row-major), for re-ranking small
/// candidate sets and for testing.
///
/// Errors: `w == 0`, `w > MAX_WORDS`, or an input length that is not a
/// multiple of `w`.
pub fn hamming_distances(
    queries: &[u64],
    album: &[u64],
    w: usize,
) -> Result<Vec<u32>, KernelError> {
    check_width(w)?;
    check_rows("queries", queries, w)?;
    check_rows("album", album, w)?;
    Ok(distances_with(Isa::detect(), queries, album, w))
}

fn check_width(w: usize) -> Result<(), KernelError> {
    if w == 0 {
        Err(KernelError::ZeroWidth)
    } else if w > MAX_WORDS {
        Err(KernelError::WidthTooLarge { w })
    } else {
        Ok(())
    }
}

fn check_rows(arg: &'static str, data: &[u64], w: usize) -> Result<(), KernelError> {
    if data.len().is_multiple_of(w) {
        Ok(())
    } else {
        Err(KernelError::LengthNotMultiple {
            arg,
            len: data.len(),
            w,
        })
    }
}

// ---------------------------------------------------------------------------
// Work splitting
// ---------------------------------------------------------------------------

/// Album rows scanned per tile: 16 KiB of hashes, so the tile plus its
/// distance buffer stay in L1 while every query of a group passes over them.
const TILE_BYTES: usize = 16 * 1024;

/// Below this many rows an album chunk is not worth a task of its own.
const MIN_CHUNK_ROWS: usize = 8 * 1024;

/// Row indices inside a chunk are packed into the low 32 bits of a key.
const MAX_CHUNK_ROWS: usize = 1 << 31;

/// How a top-k call is cut into tasks: consecutive groups of queries times
/// consecutive chunks of album rows. Any plan gives the same result.
#[derive(Clone, Copy, Debug)]
struct Plan {
    group_size: usize,
    chunk_rows: usize,
}

impl Plan {
    fn new(q: usize, n: usize) -> Plan {
        // A few tasks per thread so that uneven tasks (a chunk whose top-k
        // keeps changing costs more) still balance out.
        let target = 4 * rayon::current_num_threads().max(1);
        let chunks = n
            .div_ceil(MIN_CHUNK_ROWS)
            .clamp(1, target)
            .max(n.div_ceil(MAX_CHUNK_ROWS));
        // Split queries only as far as the album chunks leave threads idle:
        // every extra query group streams the album through the cache again.
        let groups = target.div_ceil(chunks).clamp(1, q.max(1));
        Plan {
            group_size: q.div_ceil(groups).max(1),
            chunk_rows: n.div_ceil(chunks).clamp(1, MAX_CHUNK_ROWS),
        }
    }
}

// ---------------------------------------------------------------------------
// CPU dispatch
// ---------------------------------------------------------------------------

/// Instruction-set level the inner loops are compiled for. Wheels target
/// baseline x86-64, which has no `popcnt` instruction, so `count_ones` would
/// otherwise compile to a bit-twiddling sequence; the same generic code is
/// therefore compiled several times with `#[target_feature]` and the best
/// copy the running CPU supports is picked at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Portable,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Popcnt,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx2,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx512,
}

impl Isa {
    fn detect() -> Isa {
        *Isa::supported()
            .last()
            .expect("Portable is always supported")
    }

    /// Every level the running CPU supports, worst first.
    fn supported() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut levels = vec![Isa::Portable];
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            if std::is_x86_feature_detected!("popcnt") {
                levels.push(Isa::Popcnt);
                if std::is_x86_feature_detected!("avx2") {
                    levels.push(Isa::Avx2);
                    if std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512vpopcntdq")
                    {
                        levels.push(Isa::Avx512);
                    }
                }
            }
        }
        levels
    }
}

/// One chunk-by-group task of the top-k kernel.
struct TopkTask<'a> {
    /// The group's query rows.
    queries: &'a [u64],
    /// The chunk's album rows.
    rows: &'a [u64],
    w: usize,
    /// Entries kept per query: `min(k, rows in chunk)`.
    keep: usize,
    /// Per query of the group, shared by every chunk: see [`Best::sync`].
    bounds: &'a [AtomicU32],
    /// Whether this chunk may publish to `bounds`: its `keep` is the full `k`.
    publish: bool,
}

/// Instantiates the generic kernels for one instruction-set level, with `w`
/// as a compile-time constant for the common widths (0 = read `w` at run time).
macro_rules! isa_kernels {
    ($module:ident, $features:literal) => {
        mod $module {
            use super::*;

            /// # Safety
            /// The CPU must support the target features named above.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn topk<const W: usize>(task: &TopkTask<'_>) -> Vec<Vec<u64>> {
                topk_task::<W>(task)
            }

            /// # Safety
            /// The CPU must support the target features named above.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn distances<const W: usize>(
                q: &[u64],
                rows: &[u64],
                w: usize,
                out: &mut [u32],
            ) {
                row_distances::<W>(q, rows, w, out)
            }
        }
    };
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
isa_kernels!(popcnt, "popcnt");
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
isa_kernels!(avx2, "popcnt,avx2");
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
isa_kernels!(avx512, "popcnt,avx2,avx512f,avx512vpopcntdq");

/// Calls `$module::$f::<W>($args)` (or the portable `$portable::<W>`) with
/// `W` the compile-time copy of `$w` where there is one.
macro_rules! dispatch {
    ($isa:expr, $w:expr, $portable:ident, $f:ident, ($($arg:expr),*)) => {{
        macro_rules! with_w {
            ($W:literal) => {
                match $isa {
                    Isa::Portable => $portable::<$W>($($arg),*),
                    // SAFETY: `Isa::supported` only lists levels whose
                    // features the running CPU reports.
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Popcnt => unsafe { popcnt::$f::<$W>($($arg),*) },
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx2 => unsafe { avx2::$f::<$W>($($arg),*) },
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx512 => unsafe { avx512::$f::<$W>($($arg),*) },
                }
            };
        }
        match $w {
            1 => with_w!(1),
            2 => with_w!(2),
            3 => with_w!(3),
            4 => with_w!(4),
            _ => with_w!(0),
        }
    }};
}

// ---------------------------------------------------------------------------
// Inner loops (generic; compiled once per `Isa` through the wrappers above)
// ---------------------------------------------------------------------------

/// `out[r] = popcount(q XOR rows[r])` for every `w`-word row of `rows`.
#[inline(always)]
fn row_distances<const W: usize>(q: &[u64], rows: &[u64], w: usize, out: &mut [u32]) {
    if W == 0 {
        for (row, o) in rows.chunks_exact(w).zip(out.iter_mut()) {
            *o = row.iter().zip(q).map(|(a, b)| (a ^ b).count_ones()).sum();
        }
    } else {
        // Fixed-size rows let LLVM unroll the word loop and vectorise over rows.
        let q: &[u64; W] = q.try_into().expect("query row has W words");
        for (row, o) in rows.chunks_exact(W).zip(out.iter_mut()) {
            let mut d = 0;
            for j in 0..W {
                d += (row[j] ^ q[j]).count_ones();
            }
            *o = d;
        }
    }
}

/// Distances are offered to a [`Best`] in blocks of this many; a block whose
/// minimum cannot enter the top-k (the usual case once it has filled) is
/// skipped after one vectorised min.
const OFFER_BLOCK: usize = 64;

#[inline(always)]
fn topk_task<const W: usize>(task: &TopkTask<'_>) -> Vec<Vec<u64>> {
    let w = if W == 0 { task.w } else { W };
    let tile_rows = (TILE_BYTES / (8 * w)).max(1);
    let mut best: Vec<Best> = (0..task.queries.len() / w)
        .map(|_| Best::new(task.keep))
        .collect();
    let mut dist = vec![0u32; tile_rows];
    let mut seeder = Seeder::new(w);
    for (t, tile) in task.rows.chunks(tile_rows * w).enumerate() {
        let dist = &mut dist[..tile.len() / w];
        let first_row = t * tile_rows;
        for ((q, best), bound) in task.queries.chunks_exact(w).zip(&mut best).zip(task.bounds) {
            row_distances::<W>(q, tile, w, dist);
            if t == 0 {
                best.seed(seeder.kth(dist, task.keep));
            }
            best.sync(bound, task.publish);
            offer(dist, first_row, best);
        }
    }
    Best::collect(best)
}

/// Offers the rows whose distances are `dist` (the first one being chunk row
/// `first_row`), in row order, to `best`.
#[inline(always)]
fn offer(dist: &[u32], first_row: usize, best: &mut Best) {
    for (b, block) in dist.chunks(OFFER_BLOCK).enumerate() {
        let min = block.iter().fold(u32::MAX, |m, &d| m.min(d));
        if min >= best.threshold {
            continue;
        }
        let block_row = first_row + b * OFFER_BLOCK;
        for (i, &d) in block.iter().enumerate() {
            if d < best.threshold {
                best.push(pack(d, block_row + i));
            }
        }
    }
}

/// A candidate as one integer that sorts by (distance, row in chunk).
#[inline(always)]
fn pack(dist: u32, row: usize) -> u64 {
    (u64::from(dist) << 32) | row as u64
}

#[inline(always)]
fn unpack(key: u64) -> (u32, usize) {
    ((key >> 32) as u32, (key & 0xffff_ffff) as usize)
}

/// Widths up to this many words seed with a histogram of distances (at most
/// `64 * w + 1` bins); wider rows use a selection on a copy.
const HIST_MAX_WORDS: usize = 16;

/// Starting bound of a query's scan of a chunk, from its first tile.
///
/// If the first tile holds at least `cap` rows and its `cap`-th smallest
/// distance is `t`, then every row of the chunk with a distance above `t` has
/// `cap` rows with strictly smaller keys (smaller distance) and can never be
/// in the chunk's top-k, whatever its position. So the scan may start with
/// "accept `d <= t`" instead of "accept anything" ([`Best::seed`]): this skips
/// most of the fill phase, where each of the first rows would otherwise be
/// inserted and then evicted again.
struct Seeder {
    hist: Vec<u32>,
    scratch: Vec<u32>,
}

impl Seeder {
    fn new(w: usize) -> Seeder {
        let bins = if w <= HIST_MAX_WORDS { 64 * w + 1 } else { 0 };
        Seeder {
            hist: vec![0; bins],
            scratch: Vec::new(),
        }
    }

    /// The `cap`-th smallest of `dist`, the distances of a chunk's first
    /// tile, if the tile has at least `cap` rows.
    #[inline(always)]
    fn kth(&mut self, dist: &[u32], cap: usize) -> Option<u32> {
        if dist.len() < cap {
            return None;
        }
        let kth = if self.hist.is_empty() {
            self.scratch.clear();
            self.scratch.extend_from_slice(dist);
            *self.scratch.select_nth_unstable(cap - 1).1
        } else {
            self.hist.fill(0);
            for &d in dist {
                self.hist[d as usize] += 1;
            }
            let mut seen = 0;
            let mut kth = 0;
            for (d, &count) in self.hist.iter().enumerate() {
                seen += count as usize;
                if seen >= cap {
                    kth = d as u32;
                    break;
                }
            }
            kth
        };
        Some(kth)
    }
}

/// The candidates of one query within one chunk: a superset of the best `cap`
/// rows offered so far, kept unsorted and cut back to `cap` by a selection
/// whenever the buffer reaches `limit` keys.
///
/// Appending is one store, so a burst of candidates (the first tiles, rows
/// that all lie close to the query) costs little; the price is that the
/// threshold only tightens at each cut, not at each insert.
///
/// Invariant, which makes the final result exact: every row that was offered
/// and is not in `keys` has at least `cap` rows with smaller keys in the
/// chunk (or, through [`Best::sync`], `k` in the album). Rows are offered in
/// increasing row order, so once `cap` kept keys have distance at most `D`, a
/// later row with distance `D` loses the tie on its row index: only strictly
/// smaller distances can enter, and `threshold` is the one number the scan
/// compares. A bound that comes from elsewhere (the first tile's distances,
/// another chunk) says nothing about row order, so it lets distances equal
/// to it in (`threshold = bound + 1`).
struct Best {
    keys: Vec<u64>,
    cap: usize,
    limit: usize,
    /// A row may enter iff its distance is below this.
    threshold: u32,
    /// The smallest `b` known such that at least `cap` rows of the chunk
    /// have a distance of at most `b` (`u32::MAX`: none known yet).
    bound: u32,
}

impl Best {
    fn new(cap: usize) -> Best {
        // Cutting every `cap` (at least 32) new keys keeps a cut's cost, a
        // selection over `limit` keys, at a few nanoseconds per key.
        let limit = cap.saturating_add(cap.max(32));
        Best {
            // Growing the buffer key by key costs more than the keys do.
            keys: Vec::with_capacity(limit.min(1024)),
            cap,
            limit,
            threshold: u32::MAX,
            bound: u32::MAX,
        }
    }

    /// Starts from the first tile's `cap`-th smallest distance, if any.
    fn seed(&mut self, kth: Option<u32>) {
        if let Some(kth) = kth {
            self.bound = self.bound.min(kth);
            // kth <= 64 * MAX_WORDS < u32::MAX: no overflow.
            self.threshold = self.threshold.min(kth + 1);
        }
    }

    /// Exchanges bounds with the query's scans of the other chunks.
    ///
    /// `shared` holds the smallest `b` any chunk has published such that `k`
    /// rows of the album have a distance of at most `b`; a row farther than
    /// that is beaten by those `k` rows and cannot be in the final top-k,
    /// wherever it lies, so this chunk need not keep it. Without this, each
    /// chunk's scan would go through its own fill phase, ending with the
    /// threshold that a scan of the whole album would have reached a few
    /// hundred rows in. A chunk publishes its own bound only if it keeps the
    /// full `k` (`publish`).
    ///
    /// A chunk's list may then hold fewer than `cap` rows (even none), but
    /// the union of all chunks' lists still contains the final top-k: a row
    /// of it is never beaten by `k` others, so no chunk rejects or cuts it.
    /// Thresholds depend on timing, the result does not.
    #[inline(always)]
    fn sync(&mut self, shared: &AtomicU32, publish: bool) {
        let global = shared.load(Ordering::Relaxed);
        if publish && self.bound < global {
            shared.fetch_min(self.bound, Ordering::Relaxed);
        }
        self.threshold = self.threshold.min(global.saturating_add(1));
    }

    /// Adds a key whose distance is below `threshold`.
    #[inline(always)]
    fn push(&mut self, key: u64) {
        self.keys.push(key);
        if self.keys.len() >= self.limit {
            self.cut();
        }
    }

    /// Keeps the `cap` smallest keys and lowers the threshold to the largest
    /// distance among them.
    #[inline(never)]
    fn cut(&mut self) {
        if self.keys.len() <= self.cap {
            return;
        }
        let worst = unpack(*self.keys.select_nth_unstable(self.cap - 1).1).0;
        self.keys.truncate(self.cap);
        self.threshold = self.threshold.min(worst);
        self.bound = self.bound.min(worst);
    }

    /// Every query's best keys (at most `cap`), in no particular order.
    fn collect(best: Vec<Best>) -> Vec<Vec<u64>> {
        best.into_iter()
            .map(|mut b| {
                b.cut();
                b.keys
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Fused AVX-512 path for two-word (128-bit) rows
// ---------------------------------------------------------------------------

/// The top-k kernel for `w = 2` with AVX-512 VPOPCNTDQ, photomatch's own
/// hash size.
///
/// The generic path writes every distance to a buffer and reads it back to
/// filter it. Here the filter is fused into the distance computation: eight
/// rows' distances live in one register and are compared with the threshold
/// there, and only a non-zero compare mask (rare once the top-k has filled)
/// leaves the vector code.
///
/// Rows are stored as two words side by side, so a register loaded from the
/// album holds both halves of four rows, and adding each row's two popcounts
/// would cost two cross-lane shuffles per eight rows on every query. Instead
/// each tile is transposed once into blocks of eight rows, first words then
/// second words ([`transpose`]); every query of the group then reuses it. Per
/// eight rows the loop then does two XORs, two VPOPCNTQs, one add and one
/// lane-wise minimum (one compare per 32 rows): three vector operations per
/// register of album words, as many as the bare XOR + popcount + accumulate
/// loop that measures the machine's peak, which it runs at on an L1 tile.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod avx512_w2 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use super::{offer, pack, row_distances, Best, Seeder, TopkTask, TILE_BYTES};

    /// One cache line of a transposed tile. A heap buffer of `u64` is only
    /// 16-byte aligned, and every 64-byte load from it would then straddle
    /// two cache lines (a few percent of the scan's time, measured).
    #[derive(Clone, Copy)]
    #[repr(C, align(64))]
    struct Line([u64; 8]);

    impl Line {
        fn words(lines: &mut [Line]) -> &mut [u64] {
            // SAFETY: `Line` is `repr(C)` around `[u64; 8]`: 64 bytes, no
            // padding, every bit pattern valid; the borrow is carried over.
            unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), 8 * lines.len()) }
        }
    }

    /// Rows per tile: 16 KiB of album rows, a multiple of [`STEP`].
    const TILE_ROWS: usize = TILE_BYTES / 16;

    /// Rows per loop step: four blocks of eight, one compare and one branch.
    const STEP: usize = 32;

    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ; `task.w` must be 2.
    #[target_feature(enable = "popcnt,avx2,avx512f,avx512vpopcntdq")]
    pub(super) unsafe fn topk(task: &TopkTask<'_>) -> Vec<Vec<u64>> {
        debug_assert_eq!(task.w, 2);
        let mut best: Vec<Best> = (0..task.queries.len() / 2)
            .map(|_| Best::new(task.keep))
            .collect();
        let mut lines = vec![Line([0; 8]); 2 * TILE_ROWS / 8];
        let soa = Line::words(&mut lines);
        let mut dist = vec![0u32; TILE_ROWS];
        let mut seeder = Seeder::new(2);
        for (t, tile) in task.rows.chunks(2 * TILE_ROWS).enumerate() {
            let rows = tile.len() / 2;
            let first_row = t * TILE_ROWS;
            transpose(tile, soa);
            for ((q, best), bound) in task.queries.chunks_exact(2).zip(&mut best).zip(task.bounds) {
                best.sync(bound, task.publish);
                if t == 0 && best.threshold == u32::MAX {
                    // Nothing known yet about this query (no other chunk has
                    // published): seed from this first tile, which needs all
                    // its distances; the generic code does it.
                    let dist = &mut dist[..rows];
                    row_distances::<2>(q, tile, 2, dist);
                    best.seed(seeder.kth(dist, task.keep));
                    offer(dist, 0, best);
                } else {
                    scan(q, soa, rows, first_row, best);
                }
            }
        }
        Best::collect(best)
    }

    /// Rewrites `tile` (row-major, two words per row) as blocks of eight
    /// rows: the eight first words, then the eight second words. The last
    /// block is padded with zero rows up to a multiple of [`STEP`] rows; the
    /// scan masks them out.
    #[target_feature(enable = "avx512f")]
    fn transpose(tile: &[u64], soa: &mut [u64]) {
        let rows = tile.len() / 2;
        let padded = rows.div_ceil(STEP) * STEP;
        assert!(soa.len() >= 2 * padded);
        let first = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
        let second = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
        let full = rows / 8;
        for b in 0..full {
            // SAFETY: rows 8b..8b+8 are in `tile` (b < rows / 8) and block b
            // is in `soa` (asserted above); unaligned loads and stores.
            unsafe {
                let src = tile.as_ptr().add(16 * b);
                let lo = _mm512_loadu_si512(src.cast());
                let hi = _mm512_loadu_si512(src.add(8).cast());
                let dst = soa.as_mut_ptr().add(16 * b);
                _mm512_storeu_si512(dst.cast(), _mm512_permutex2var_epi64(lo, first, hi));
                _mm512_storeu_si512(dst.add(8).cast(), _mm512_permutex2var_epi64(lo, second, hi));
            }
        }
        for r in full * 8..padded {
            let (b, i) = (r / 8, r % 8);
            let (w0, w1) = if r < rows {
                (tile[2 * r], tile[2 * r + 1])
            } else {
                (0, 0)
            };
            soa[16 * b + i] = w0;
            soa[16 * b + 8 + i] = w1;
        }
    }

    /// Offers to `best` the rows of a transposed tile (`rows` rows, the first
    /// being chunk row `first_row`) whose distance to query `q` is below its
    /// threshold, in row order.
    #[target_feature(enable = "popcnt,avx2,avx512f,avx512vpopcntdq")]
    fn scan(q: &[u64], soa: &[u64], rows: usize, first_row: usize, best: &mut Best) {
        let steps = rows.div_ceil(STEP);
        assert!(q.len() == 2 && soa.len() >= 2 * STEP * steps);
        let q = [q[0], q[1]];
        let mut dist = [0u64; STEP];
        let mut from = 0;
        // Each call runs to the next step holding a row below the threshold
        // (rare once the top-k has filled); the rows are offered here, outside
        // the vector loop, so that its registers need not survive a call.
        while let Some((s, mut below)) = next_hit(q, best.threshold, soa, from, steps, &mut dist) {
            let valid = rows - s * STEP;
            if valid < STEP {
                // The padding rows of the last step.
                below &= (1u32 << valid) - 1;
            }
            offer_mask(&dist, below, first_row + s * STEP, best);
            from = s + 1;
        }
    }

    /// The first step `s` in `from..steps` with a row whose distance to `q`
    /// is below `threshold`, and the mask of those rows; that step's
    /// distances go to `dist`.
    #[target_feature(enable = "popcnt,avx2,avx512f,avx512vpopcntdq")]
    #[inline(never)]
    fn next_hit(
        q: [u64; 2],
        threshold: u32,
        soa: &[u64],
        from: usize,
        steps: usize,
        dist: &mut [u64; STEP],
    ) -> Option<(usize, u32)> {
        assert!(soa.len() >= 2 * STEP * steps);
        let q0 = _mm512_set1_epi64(q[0] as i64);
        let q1 = _mm512_set1_epi64(q[1] as i64);
        let threshold = _mm512_set1_epi64(i64::from(threshold));
        for s in from..steps {
            // SAFETY: step s reads words 64s..64s+64 of `soa`, in bounds by
            // the assert above; unaligned loads.
            let d = unsafe {
                let p = soa.as_ptr().add(2 * STEP * s);
                let block = |b: usize| {
                    let p = p.add(16 * b);
                    let a = _mm512_xor_si512(_mm512_loadu_si512(p.cast()), q0);
                    let b = _mm512_xor_si512(_mm512_loadu_si512(p.add(8).cast()), q1);
                    _mm512_add_epi64(_mm512_popcnt_epi64(a), _mm512_popcnt_epi64(b))
                };
                [block(0), block(1), block(2), block(3)]
            };
            // One compare for 32 rows: the lane-wise minimum of the four
            // blocks is below the threshold iff some row is. This keeps the
            // loop at three vector operations per eight rows' word pair, as
            // many as the bare popcount loop.
            let min = _mm512_min_epu64(_mm512_min_epu64(d[0], d[1]), _mm512_min_epu64(d[2], d[3]));
            if _mm512_cmplt_epu64_mask(min, threshold) != 0 {
                let mut below = 0u32;
                for (b, &d) in d.iter().enumerate() {
                    below |= u32::from(_mm512_cmplt_epu64_mask(d, threshold)) << (8 * b);
                    // SAFETY: block b is words 8b..8b+8 of `dist`; unaligned store.
                    unsafe { _mm512_storeu_si512(dist.as_mut_ptr().add(8 * b).cast(), d) };
                }
                return Some((s, below));
            }
        }
        None
    }

    /// Offers the rows of one step whose bit is set in `below`, in row
    /// order, re-checking each against the threshold, which may have dropped
    /// since the compare.
    #[inline(always)]
    fn offer_mask(d: &[u64; STEP], mut below: u32, first_row: usize, best: &mut Best) {
        while below != 0 {
            let i = below.trailing_zeros() as usize;
            below &= below - 1;
            let d = d[i] as u32;
            if d < best.threshold {
                best.push(pack(d, first_row + i));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------

fn topk_planned(
    isa: Isa,
    plan: Plan,
    queries: &[u64],
    album: &[u64],
    w: usize,
    k: usize,
) -> (Vec<i64>, Vec<u32>) {
    let n = album.len() / w;
    let pieces = cut(album, 0, plan.chunk_rows, w);
    topk_pieces(isa, plan.group_size, queries, &pieces, n, w, k)
}

/// Consecutive album rows scanned by one task: `rows` are album rows `start..`.
struct Piece<'a> {
    rows: &'a [u64],
    start: usize,
}

/// `rows` (album rows `start..`) cut into pieces of at most `chunk_rows` rows.
fn cut(rows: &[u64], start: usize, chunk_rows: usize, w: usize) -> Vec<Piece<'_>> {
    rows.chunks(chunk_rows * w)
        .enumerate()
        .map(|(c, piece)| Piece {
            rows: piece,
            start: start + c * chunk_rows,
        })
        .collect()
}

/// The top-k of `queries` over the album rows that `pieces` cover (`n` rows in
/// all, each row in exactly one piece), queries taken `group_size` at a time.
fn topk_pieces(
    isa: Isa,
    group_size: usize,
    queries: &[u64],
    pieces: &[Piece<'_>],
    n: usize,
    w: usize,
    k: usize,
) -> (Vec<i64>, Vec<u32>) {
    let q = queries.len() / w;
    let k_out = k.min(n);
    if q == 0 || k_out == 0 {
        return (Vec::new(), Vec::new());
    }
    let groups = q.div_ceil(group_size);
    let chunks = pieces.len();

    // Task t scans piece t % chunks for query group t / chunks; its result
    // holds, per query of the group, at most `min(k, piece rows)` keys, and
    // together the pieces' lists hold the query's top-k.
    let bounds: Vec<AtomicU32> = (0..q).map(|_| AtomicU32::new(u32::MAX)).collect();
    let partial: Vec<Vec<Vec<u64>>> = (0..groups * chunks)
        .into_par_iter()
        .map(|t| {
            let (g, c) = (t / chunks, t % chunks);
            let g_rows = g * group_size..q.min((g + 1) * group_size);
            let piece_len = pieces[c].rows.len() / w;
            let task = TopkTask {
                queries: &queries[g_rows.start * w..g_rows.end * w],
                rows: pieces[c].rows,
                w,
                keep: k.min(piece_len),
                bounds: &bounds[g_rows],
                publish: piece_len >= k,
            };
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            if isa == Isa::Avx512 && w == 2 {
                // SAFETY: `Isa::supported` only lists Avx512 when the running
                // CPU reports AVX-512F and VPOPCNTDQ.
                return unsafe { avx512_w2::topk(&task) };
            }
            dispatch!(isa, w, topk_task, topk, (&task))
        })
        .collect();

    let mut indices = vec![0i64; q * k_out];
    let mut distances = vec![0u32; q * k_out];
    indices
        .par_chunks_mut(k_out)
        .zip(distances.par_chunks_mut(k_out))
        .enumerate()
        .for_each_init(Vec::new, |merged, (qi, (idx_out, dist_out))| {
            let (g, in_group) = (qi / group_size, qi % group_size);
            merged.clear();
            for (c, piece) in pieces.iter().enumerate() {
                let keys = &partial[g * chunks + c][in_group];
                let c_start = piece.start;
                merged.extend(keys.iter().map(|&key| {
                    let (d, row) = unpack(key);
                    (d, c_start + row)
                }));
            }
            // (distance, row) pairs are unique, so any sort gives the same order.
            debug_assert!(merged.len() >= k_out, "the chunks hold the top-k");
            if merged.len() > k_out {
                merged.select_nth_unstable(k_out - 1);
                merged.truncate(k_out);
            }
            merged.sort_unstable();
            for ((&(d, row), i), o) in merged.iter().zip(idx_out).zip(dist_out) {
                *i = row as i64;
                *o = d;
            }
        });
    (indices, distances)
}

/// Album rows per task of the distance-matrix kernel.
const DIST_CHUNK_ROWS: usize = 16 * 1024;

fn distances_with(isa: Isa, queries: &[u64], album: &[u64], w: usize) -> Vec<u32> {
    let (q, n) = (queries.len() / w, album.len() / w);
    let mut out = vec![0u32; q * n];
    if q == 0 || n == 0 {
        return out;
    }
    // Each task fills part of one output row, so tasks never share memory
    // and a single query still uses every thread.
    out.par_chunks_mut(n)
        .zip(queries.par_chunks(w))
        .for_each(|(out_row, query)| {
            out_row
                .par_chunks_mut(DIST_CHUNK_ROWS)
                .enumerate()
                .for_each(|(c, o)| {
                    let start = c * DIST_CHUNK_ROWS * w;
                    let rows = &album[start..start + o.len() * w];
                    dispatch!(isa, w, row_distances, distances, (query, rows, w, o))
                });
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: small, seeded, good enough to make test data.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn words(&mut self, len: usize) -> Vec<u64> {
            (0..len).map(|_| self.next()).collect()
        }
    }

    fn naive_distances(queries: &[u64], album: &[u64], w: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for q in queries.chunks(w) {
            for r in album.chunks(w) {
                out.push(q.iter().zip(r).map(|(a, b)| (a ^ b).count_ones()).sum());
            }
        }
        out
    }

    fn naive_topk(queries: &[u64], album: &[u64], w: usize, k: usize) -> (Vec<i64>, Vec<u32>) {
        let n = album.len() / w;
        let all = naive_distances(queries, album, w);
        let (mut idx, mut dist) = (Vec::new(), Vec::new());
        for row in all.chunks(n.max(1)).take(queries.len() / w) {
            let mut order: Vec<(u32, usize)> = row.iter().copied().zip(0..).collect();
            order.sort();
            for &(d, i) in order.iter().take(k) {
                idx.push(i as i64);
                dist.push(d);
            }
        }
        if n == 0 {
            return (Vec::new(), Vec::new());
        }
        (idx, dist)
    }

    /// Rows drawn from `patterns` distinct hashes: most distances tie.
    fn tied_rows(rng: &mut Rng, rows: usize, w: usize, patterns: usize) -> Vec<u64> {
        let pool = rng.words(patterns * w);
        let mut out = Vec::with_capacity(rows * w);
        for _ in 0..rows {
            let p = rng.below(patterns);
            out.extend_from_slice(&pool[p * w..(p + 1) * w]);
        }
        out
    }

    #[test]
    fn shards_equal_one_array_with_ties() {
        let mut rng = Rng::new(41);
        // Uneven shards: empty ones, ones smaller than k, one far larger than a chunk.
        let sizes = [0usize, 5, 0, 1, 63, 64, 65, 20_000, 3, 0, 9_000];
        for w in [1usize, 2, 3] {
            for patterns in [1usize, 4, 50] {
                let n: usize = sizes.iter().sum();
                let album = tied_rows(&mut rng, n, w, patterns);
                let mut queries = album[..3 * w].to_vec();
                queries.extend(rng.words(4 * w));
                let mut shards = Vec::new();
                let mut at = 0;
                for size in sizes {
                    shards.push(&album[at * w..(at + size) * w]);
                    at += size;
                }
                for k in [1usize, 7, 64, 65, 1000, n, n + 3] {
                    let want = hamming_topk(&queries, &album, w, k).unwrap();
                    let got = hamming_topk_shards(&queries, &shards, w, k).unwrap();
                    assert_eq!(got, want, "w={w} patterns={patterns} k={k}");
                }
            }
        }
    }

    #[test]
    fn shards_small_against_naive() {
        let mut rng = Rng::new(5);
        let w = 2;
        let album = tied_rows(&mut rng, 40, w, 3);
        let queries = rng.words(3 * w);
        let shards = [
            &album[..0],
            &album[..6 * w],
            &album[6 * w..7 * w],
            &album[7 * w..],
        ];
        for k in [1usize, 5, 40, 50] {
            let want = naive_topk(&queries, &album, w, k);
            assert_eq!(hamming_topk_shards(&queries, &shards, w, k).unwrap(), want);
        }
    }

    #[test]
    fn shards_none_or_empty_and_bad_input() {
        let queries = [1u64, 2, 3, 4];
        assert_eq!(
            hamming_topk_shards(&queries, &[], 2, 5).unwrap(),
            (Vec::new(), Vec::new())
        );
        let empty: [u64; 0] = [];
        assert_eq!(
            hamming_topk_shards(&queries, &[&empty[..], &empty[..]], 2, 5).unwrap(),
            (Vec::new(), Vec::new())
        );
        assert!(matches!(
            hamming_topk_shards(&queries, &[&queries[..3]], 2, 1),
            Err(KernelError::LengthNotMultiple { arg: "shard", .. })
        ));
        assert!(matches!(
            hamming_topk_shards(&queries, &[&queries[..]], 2, 0),
            Err(KernelError::ZeroK)
        ));
    }

    /// Checks every supported ISA and several plans against the reference.
    fn check(queries: &[u64], album: &[u64], w: usize, k: usize) {
        let expected = naive_topk(queries, album, w, k);
        assert_eq!(hamming_topk(queries, album, w, k).unwrap(), expected);
        let (q, n) = (queries.len() / w, album.len() / w);
        let plans = [
            Plan::new(q, n),
            Plan {
                group_size: 1,
                chunk_rows: 1,
            },
            Plan {
                group_size: 3,
                chunk_rows: 7,
            },
            Plan {
                group_size: q.max(1),
                chunk_rows: 100,
            },
            Plan {
                group_size: 2,
                chunk_rows: 2_500,
            },
        ];
        for isa in Isa::supported() {
            for plan in plans {
                let got = topk_planned(isa, plan, queries, album, w, k);
                assert_eq!(got, expected, "isa {isa:?} plan {plan:?} w {w} k {k}");
            }
        }
    }

    #[test]
    fn random_matches_reference() {
        let mut rng = Rng::new(1);
        for w in [1, 2, 3, 4, 5] {
            for (q, n) in [(1, 1), (1, 50), (7, 300), (3, 5000)] {
                let queries = rng.words(q * w);
                let album = rng.words(n * w);
                for k in [1, 3, 10, 64, 65, 200, n, n + 1, 3 * n] {
                    check(&queries, &album, w, k);
                }
            }
        }
    }

    #[test]
    fn ties_follow_row_order() {
        let mut rng = Rng::new(2);
        for w in [1, 2, 4] {
            // A pool of 4 distinct rows, repeated: many exact duplicates and
            // therefore many equal distances.
            let pool = rng.words(4 * w);
            let album: Vec<u64> = (0..3000)
                .flat_map(|_| {
                    let r = rng.below(4);
                    pool[r * w..(r + 1) * w].to_vec()
                })
                .collect();
            let mut queries = rng.words(5 * w);
            queries[..w].copy_from_slice(&pool[..w]); // exact match of a pool row
            for k in [1, 5, 64, 100, 3000, 4000] {
                check(&queries, &album, w, k);
            }
        }
    }

    #[test]
    fn sparse_bits_many_equal_distances() {
        let mut rng = Rng::new(3);
        for w in [1, 2, 4] {
            let sparse = |rng: &mut Rng, len| -> Vec<u64> {
                (0..len)
                    .map(|_| rng.next() & rng.next() & rng.next())
                    .collect()
            };
            let queries = sparse(&mut rng, 9 * w);
            let album = sparse(&mut rng, 2500 * w);
            for k in [1, 10, 64, 65, 1000] {
                check(&queries, &album, w, k);
            }
        }
    }

    #[test]
    fn exact_match_is_first() {
        let mut rng = Rng::new(4);
        let album = rng.words(10_000);
        let queries = vec![album[1234], album[9999]];
        let (idx, dist) = hamming_topk(&queries, &album, 1, 3).unwrap();
        assert_eq!((idx[0], dist[0]), (1234, 0));
        assert_eq!((idx[3], dist[3]), (9999, 0));
    }

    #[test]
    fn empty_inputs() {
        let album = vec![1u64, 2, 3, 4];
        assert_eq!(hamming_topk(&[], &album, 2, 5).unwrap(), (vec![], vec![]));
        assert_eq!(hamming_topk(&[1, 2], &[], 2, 5).unwrap(), (vec![], vec![]));
        assert_eq!(
            hamming_distances(&[], &album, 2).unwrap(),
            Vec::<u32>::new()
        );
        assert_eq!(
            hamming_distances(&[1, 2], &[], 2).unwrap(),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn bad_arguments() {
        let data = vec![0u64; 6];
        assert_eq!(
            hamming_topk(&data, &data, 0, 1),
            Err(KernelError::ZeroWidth)
        );
        assert_eq!(hamming_topk(&data, &data, 2, 0), Err(KernelError::ZeroK));
        assert_eq!(
            hamming_topk(&data, &data, MAX_WORDS + 1, 1),
            Err(KernelError::WidthTooLarge { w: MAX_WORDS + 1 })
        );
        assert_eq!(
            hamming_topk(&data[..5], &data, 2, 1),
            Err(KernelError::LengthNotMultiple {
                arg: "queries",
                len: 5,
                w: 2
            })
        );
        assert_eq!(
            hamming_topk(&data, &data, 4, 1),
            Err(KernelError::LengthNotMultiple {
                arg: "queries",
                len: 6,
                w: 4
            })
        );
        assert_eq!(
            hamming_topk(&data[..4], &data, 4, 1),
            Err(KernelError::LengthNotMultiple {
                arg: "album",
                len: 6,
                w: 4
            })
        );
        assert_eq!(
            hamming_distances(&data, &data, 0),
            Err(KernelError::ZeroWidth)
        );
        assert!(hamming_distances(&data, &data[..3], 2).is_err());
        let msg = KernelError::LengthNotMultiple {
            arg: "album",
            len: 7,
            w: 2,
        }
        .to_string();
        assert!(
            msg.contains("album") && msg.contains('7') && msg.contains("w=2"),
            "{msg}"
        );
        assert!(KernelError::ZeroK.to_string().contains("k must be"));
    }

    #[test]
    fn distances_match_reference() {
        let mut rng = Rng::new(5);
        for w in [1, 2, 3, 4, 7] {
            for (q, n) in [(1, 1), (3, 40_000), (5, 17)] {
                let queries = rng.words(q * w);
                let album = rng.words(n * w);
                let expected = naive_distances(&queries, &album, w);
                assert_eq!(hamming_distances(&queries, &album, w).unwrap(), expected);
                for isa in Isa::supported() {
                    assert_eq!(
                        distances_with(isa, &queries, &album, w),
                        expected,
                        "{isa:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let mut rng = Rng::new(6);
        let pool = rng.words(8);
        let album: Vec<u64> = (0..50_000)
            .map(|_| pool[rng.below(8)] ^ (rng.next() & rng.next()))
            .collect();
        let queries = rng.words(11);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| hamming_topk(&queries, &album, 1, 25).unwrap())
        };
        let one = run(1);
        assert_eq!(one, naive_topk(&queries, &album, 1, 25));
        for threads in [2, 3, 8] {
            assert_eq!(run(threads), one);
        }
    }

    /// The fused AVX-512 path for `w = 2` is what `Isa::supported` puts last
    /// on a CPU with VPOPCNTDQ, so `check` runs it there (and the portable
    /// and other levels everywhere).
    #[test]
    fn avx512_level_listed_when_supported() {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            let has = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vpopcntdq")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("popcnt");
            assert_eq!(Isa::supported().contains(&Isa::Avx512), has);
            if has {
                assert_eq!(Isa::detect(), Isa::Avx512);
            }
        }
        assert_eq!(Isa::supported()[0], Isa::Portable);
    }

    /// Two-word rows near the queries (a few bits flipped), so that many
    /// rows tie at the distances around each query's k-th.
    fn near_rows(rng: &mut Rng, queries: &[u64], n: usize, max_flips: usize) -> Vec<u64> {
        let q = queries.len() / 2;
        let mut album = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let src = rng.below(q);
            let mut row = [queries[2 * src], queries[2 * src + 1]];
            for _ in 0..rng.below(max_flips + 1) {
                let bit = rng.below(128);
                row[bit / 64] ^= 1 << (bit % 64);
            }
            album.extend_from_slice(&row);
        }
        album
    }

    #[test]
    fn two_words_many_ties() {
        let mut rng = Rng::new(8);
        let queries = rng.words(2 * 6);
        // Sizes around the 32-row step and the 1024-row tile: N < 8, not a
        // multiple of 8 or 32, a partial last tile, k above a tile.
        for n in [1, 5, 8, 31, 33, 1023, 1025, 2100] {
            let album = near_rows(&mut rng, &queries, n, 4);
            for k in [1, 7, 64, 100, 1030, n] {
                check(&queries, &album, 2, k);
            }
        }
    }

    #[test]
    fn two_words_duplicates_across_chunks() {
        // Every row equal to a query: all distances 0 for it, ties
        // everywhere, in every chunk and tile.
        let mut rng = Rng::new(9);
        let queries = rng.words(2 * 3);
        let album: Vec<u64> = (0..3000)
            .flat_map(|i| {
                let r = if i % 3 == 0 { rng.below(3) } else { 0 };
                [queries[2 * r], queries[2 * r + 1]]
            })
            .collect();
        for k in [1, 64, 1500, 2999, 3000] {
            check(&queries, &album, 2, k);
        }
    }

    #[test]
    fn two_words_large_many_chunks() {
        // Enough rows for several tiles per chunk and chunks that run at the
        // same time, so the shared bounds and the vector filter both act.
        let mut rng = Rng::new(10);
        let queries = rng.words(2 * 20);
        let mut album = rng.words(2 * 40_000);
        album.extend(near_rows(&mut rng, &queries, 3_000, 12));
        album.extend(rng.words(2 * 7_777));
        for k in [1, 64, 300] {
            let expected = naive_topk(&queries, &album, 2, k);
            for isa in Isa::supported() {
                for plan in [
                    Plan::new(20, album.len() / 2),
                    Plan {
                        group_size: 7,
                        chunk_rows: 5_000,
                    },
                    Plan {
                        group_size: 20,
                        chunk_rows: 1_500,
                    },
                ] {
                    let got = topk_planned(isa, plan, &queries, &album, 2, k);
                    assert_eq!(got, expected, "isa {isa:?} plan {plan:?} k {k}");
                }
            }
        }
    }

    /// Timing of each instruction-set level (not a correctness test):
    /// `cargo test --release --lib -- --ignored --nocapture bench_isa`
    #[test]
    #[ignore]
    fn bench_isa() {
        use std::time::Instant;
        let mut rng = Rng::new(7);
        let (q, n, k) = (300, 1_000_000, 10);
        let threads = rayon::current_num_threads();
        for w in [1, 2, 4] {
            let queries = rng.words(q * w);
            let album = rng.words(n * w);
            let mut reference = None;
            for isa in Isa::supported() {
                let plan = Plan::new(q, n);
                let _ = topk_planned(isa, plan, &queries[..w], &album, w, k); // warm up
                let mut best = f64::INFINITY;
                for _ in 0..3 {
                    let t = Instant::now();
                    let got = topk_planned(isa, plan, &queries, &album, w, k);
                    best = best.min(t.elapsed().as_secs_f64());
                    assert_eq!(reference.get_or_insert_with(|| got.clone()), &got);
                }
                let pairs_per_ns = (q * n) as f64 / best / 1e9;
                println!(
                    "topk w={w} Q={q} N={n} k={k} threads={threads} {isa:?}: {:.1} ms ({pairs_per_ns:.2} pairs/ns)",
                    best * 1e3
                );
            }
        }
    }
}
