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
//! are merged per query at the end.

use std::collections::BinaryHeap;
use std::fmt;

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
            pub(super) unsafe fn topk<const W: usize>(task: &TopkTask<'_>) -> Vec<u64> {
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

/// Distances are offered to a [`TopK`] in blocks of this many; a block whose
/// minimum cannot enter the top-k (the usual case once it has filled) is
/// skipped after one vectorised min.
const OFFER_BLOCK: usize = 64;

#[inline(always)]
fn topk_task<const W: usize>(task: &TopkTask<'_>) -> Vec<u64> {
    let w = if W == 0 { task.w } else { W };
    let tile_rows = (TILE_BYTES / (8 * w)).max(1);
    let mut best: Vec<TopK> = (0..task.queries.len() / w)
        .map(|_| TopK::new(task.keep))
        .collect();
    let mut dist = vec![0u32; tile_rows];
    for (t, tile) in task.rows.chunks(tile_rows * w).enumerate() {
        let dist = &mut dist[..tile.len() / w];
        let first_row = t * tile_rows;
        for (q, best) in task.queries.chunks_exact(w).zip(best.iter_mut()) {
            row_distances::<W>(q, tile, w, dist);
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
    }
    let mut keys = Vec::with_capacity(best.len() * task.keep);
    for b in best {
        keys.extend(b.into_sorted());
    }
    keys
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

/// Above this `k`, a heap beats keeping a sorted array by insertion.
const SORTED_MAX: usize = 64;

/// The best `cap` candidates of one query seen so far within one chunk.
///
/// Rows are offered in increasing row order, so a later row with a distance
/// equal to the current worst would lose the tie: only strictly smaller
/// distances can enter, and `threshold` is the one number the scan compares.
struct TopK {
    cap: usize,
    /// A new row enters iff its distance is below this (`u32::MAX` until full).
    threshold: u32,
    keys: Keys,
}

enum Keys {
    /// Ascending.
    Sorted(Vec<u64>),
    /// Max-heap: the current worst on top.
    Heap(BinaryHeap<u64>),
}

impl TopK {
    fn new(cap: usize) -> TopK {
        let keys = if cap <= SORTED_MAX {
            Keys::Sorted(Vec::with_capacity(cap))
        } else {
            Keys::Heap(BinaryHeap::new())
        };
        TopK {
            cap,
            threshold: u32::MAX,
            keys,
        }
    }

    /// Adds a key whose distance is below `threshold`, evicting the worst.
    fn push(&mut self, key: u64) {
        let worst = match &mut self.keys {
            Keys::Sorted(v) => {
                if v.len() == self.cap {
                    v.pop();
                }
                let at = v.partition_point(|&x| x < key);
                v.insert(at, key);
                (v.len() == self.cap).then(|| v[v.len() - 1])
            }
            Keys::Heap(h) => {
                if h.len() == self.cap {
                    // Replacing the top in place sifts it down once.
                    *h.peek_mut().expect("cap >= 1") = key;
                } else {
                    h.push(key);
                }
                (h.len() == self.cap).then(|| *h.peek().expect("cap >= 1"))
            }
        };
        if let Some(worst) = worst {
            self.threshold = unpack(worst).0;
        }
    }

    fn into_sorted(self) -> Vec<u64> {
        match self.keys {
            Keys::Sorted(v) => v,
            Keys::Heap(h) => h.into_sorted_vec(),
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
    let (q, n) = (queries.len() / w, album.len() / w);
    let k_out = k.min(n);
    if q == 0 || k_out == 0 {
        return (Vec::new(), Vec::new());
    }
    let groups = q.div_ceil(plan.group_size);
    let chunks = n.div_ceil(plan.chunk_rows);
    let chunk_len = |c: usize| plan.chunk_rows.min(n - c * plan.chunk_rows);

    // Task t scans chunk t % chunks for query group t / chunks; its result
    // holds, per query of the group, `min(k, chunk_len)` keys sorted ascending.
    let partial: Vec<Vec<u64>> = (0..groups * chunks)
        .into_par_iter()
        .map(|t| {
            let (g, c) = (t / chunks, t % chunks);
            let g_rows = g * plan.group_size..q.min((g + 1) * plan.group_size);
            let c_start = c * plan.chunk_rows;
            let task = TopkTask {
                queries: &queries[g_rows.start * w..g_rows.end * w],
                rows: &album[c_start * w..(c_start + chunk_len(c)) * w],
                w,
                keep: k.min(chunk_len(c)),
            };
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
            let (g, in_group) = (qi / plan.group_size, qi % plan.group_size);
            merged.clear();
            for c in 0..chunks {
                let keep = k.min(chunk_len(c));
                let keys = &partial[g * chunks + c][in_group * keep..(in_group + 1) * keep];
                let c_start = c * plan.chunk_rows;
                merged.extend(keys.iter().map(|&key| {
                    let (d, row) = unpack(key);
                    (d, c_start + row)
                }));
            }
            // The chunk lists are sorted runs; the stable sort merges runs
            // rather than sorting from scratch. Keys are unique, so stability
            // does not affect the result.
            if chunks > 1 {
                merged.sort();
            }
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
