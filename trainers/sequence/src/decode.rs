//! The sequence step: from per-page probabilities to documents.
//!
//! Position 0 always starts a document; elsewhere a document starts where
//! P(start) >= the boundary threshold. Within each predicted document every page gets
//! the one type maximising the sum of the pages' log type-probabilities: a contract's
//! blank signature page is still a contract because its neighbours say so.

/// Floor for log-probabilities, so one page's hard 0 cannot veto a whole document.
const LOG_FLOOR: f64 = 1e-12;

/// A decoded sequence: a flag and a type per page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub starts: Vec<bool>,
    pub types: Vec<usize>,
}

impl Decoded {
    /// The documents as (first page, end page exclusive, type).
    pub fn documents(&self) -> Vec<(usize, usize, usize)> {
        spans(&self.starts)
            .into_iter()
            .map(|(a, b)| (a, b, self.types.get(a).copied().unwrap_or(0)))
            .collect()
    }
}

/// Decodes one sequence. `type_probabilities[i]` holds page i's probability per class
/// (every row the same length), `start_probabilities[i]` its P(starts a document).
pub fn decode(
    type_probabilities: &[Vec<f64>],
    start_probabilities: &[f64],
    threshold: f64,
) -> Decoded {
    let n = type_probabilities.len();
    let starts: Vec<bool> = (0..n)
        .map(|i| i == 0 || start_probabilities.get(i).is_some_and(|&p| p >= threshold))
        .collect();
    let n_classes = type_probabilities.first().map_or(0, Vec::len);
    let mut types = vec![0; n];
    for (a, b) in spans(&starts) {
        let mut best = (f64::NEG_INFINITY, 0);
        for class in 0..n_classes {
            let score: f64 = type_probabilities[a..b]
                .iter()
                .map(|row| row.get(class).copied().unwrap_or(0.0).max(LOG_FLOOR).ln())
                .sum();
            if score > best.0 {
                best = (score, class);
            }
        }
        types[a..b].fill(best.1);
    }
    Decoded { starts, types }
}

/// Document spans (start, end exclusive) of a boundary vector; position 0 always
/// opens one, whatever `starts[0]` says.
pub fn spans(starts: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = 0;
    for (i, &start) in starts.iter().enumerate().skip(1) {
        if start {
            out.push((open, i));
            open = i;
        }
    }
    if !starts.is_empty() {
        out.push((open, starts.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_take_the_type_of_their_summed_log_probabilities() {
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.4, 0.6], // outvoted by its document
            vec![0.8, 0.2],
            vec![0.1, 0.9],
            vec![0.3, 0.7],
        ];
        let start = vec![0.1, 0.2, 0.3, 0.95, 0.1];
        let decoded = decode(&probs, &start, 0.5);
        assert_eq!(decoded.starts, vec![true, false, false, true, false]);
        assert_eq!(decoded.types, vec![0, 0, 0, 1, 1]);
        assert_eq!(decoded.documents(), vec![(0, 3, 0), (3, 5, 1)]);
    }

    #[test]
    fn position_zero_always_starts_and_the_threshold_is_inclusive() {
        let probs = vec![vec![1.0], vec![1.0], vec![1.0]];
        let decoded = decode(&probs, &[0.0, 0.5, 0.49], 0.5);
        assert_eq!(decoded.starts, vec![true, true, false]);
        assert_eq!(spans(&[false, false]), vec![(0, 2)]);
        assert!(spans(&[]).is_empty());
        assert!(decode(&[], &[], 0.5).types.is_empty());
    }

    #[test]
    fn a_hard_zero_does_not_veto_a_document() {
        // class 0 is certain on two pages, impossible on one: the floor lets it win
        let probs = vec![vec![0.0, 1.0], vec![1.0, 1e-20], vec![1.0, 1e-20]];
        let decoded = decode(&probs, &[1.0, 0.0, 0.0], 0.5);
        assert_eq!(decoded.types, vec![0, 0, 0]);
    }
}
