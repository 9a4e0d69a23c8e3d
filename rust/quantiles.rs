//! Quantiles of a sample, as numpy's `quantile` gives them by default
//! (`method="linear"`): the pixel check compares the tone curves of a
//! candidate's window and the thumbnail by nineteen quantiles of each, twice
//! per candidate, where numpy's general machinery cost more than the selection.
//!
//! The values are numpy's to the bit: the virtual index `(n - 1) q`, its floor
//! and fraction, and numpy's two-sided linear interpolation. Only the order
//! statistics are found another way (a selection per needed rank, splitting
//! the sample around the middle rank first), which does not change them.

use std::cmp::Ordering;
use std::fmt;

/// Why quantiles were refused.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantileError {
    /// The sample has no values.
    Empty,
    /// A value of the sample is NaN (numpy's answer would be NaN).
    NotANumber,
    /// A level is outside [0, 1] or NaN.
    Level { q: f64 },
}

impl fmt::Display for QuantileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantileError::Empty => write!(f, "no values to take quantiles of"),
            QuantileError::NotANumber => write!(f, "the values hold a NaN"),
            QuantileError::Level { q } => write!(f, "quantile levels must be in [0, 1], got {q}"),
        }
    }
}

impl std::error::Error for QuantileError {}

/// The quantiles of `values` at levels `qs` (each in [0, 1]), numpy's
/// `quantile(values, qs)` with its default linear method.
pub fn quantiles(values: &[f64], qs: &[f64]) -> Result<Vec<f64>, QuantileError> {
    if values.is_empty() {
        return Err(QuantileError::Empty);
    }
    if values.iter().any(|v| v.is_nan()) {
        return Err(QuantileError::NotANumber);
    }
    if let Some(&q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(QuantileError::Level { q });
    }
    let n = values.len();
    let last = n - 1;
    // (below, above, fraction) per level, as numpy's `_get_indexes` and
    // `_get_gamma` take them: at or past the last rank both are the last.
    let spots: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let virtual_index = last as f64 * q;
            if virtual_index >= last as f64 {
                // numpy's fraction is then against index -1; with both
                // neighbours the last value, any fraction gives that value.
                (last, last, 0.0)
            } else {
                let below = virtual_index.floor();
                (below as usize, below as usize + 1, virtual_index - below)
            }
        })
        .collect();
    let mut ranks: Vec<usize> = spots.iter().flat_map(|&(b, a, _)| [b, a]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut sample = values.to_vec();
    select_ranks(&mut sample, &ranks, 0);
    Ok(spots
        .into_iter()
        .map(|(below, above, t)| lerp(sample[below], sample[above], t))
        .collect())
}

/// Puts the value of each rank in `ranks` (sorted, distinct, each within
/// `offset..offset + sample.len()`) where a full sort would put it.
fn select_ranks(sample: &mut [f64], ranks: &[usize], offset: usize) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let at = ranks[mid] - offset;
    let (left, _, right) = sample.select_nth_unstable_by(at, total_order);
    select_ranks(left, &ranks[..mid], offset);
    select_ranks(right, &ranks[mid + 1..], offset + at + 1);
}

fn total_order(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// numpy's `_lerp`: from `a` below the middle, from `b` at or past it.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_sorting(values: &[f64], q: f64) -> f64 {
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        let vi = (s.len() - 1) as f64 * q;
        let below = vi.floor() as usize;
        let above = (below + 1).min(s.len() - 1);
        lerp(s[below], s[above], vi - vi.floor())
    }

    #[test]
    fn levels_match_a_full_sort() {
        let mut s = 12345u64;
        let values: Vec<f64> = (0..1001)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) % 251) as f64 * 0.37
            })
            .collect();
        let qs: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
        let got = quantiles(&values, &qs).unwrap();
        for (q, g) in qs.iter().zip(&got) {
            assert_eq!(*g, by_sorting(&values, *q), "q = {q}");
        }
        assert_eq!(got[0], values.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(got[20], values.iter().copied().fold(0.0, f64::max));
    }

    #[test]
    fn one_value_and_bad_input() {
        assert_eq!(quantiles(&[4.5], &[0.0, 0.3, 1.0]).unwrap(), [4.5; 3]);
        assert_eq!(quantiles(&[], &[0.5]), Err(QuantileError::Empty));
        assert_eq!(
            quantiles(&[1.0, f64::NAN], &[0.5]),
            Err(QuantileError::NotANumber)
        );
        assert!(matches!(
            quantiles(&[1.0], &[1.5]),
            Err(QuantileError::Level { .. })
        ));
    }
}
