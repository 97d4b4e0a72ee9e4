//! The dataset's structure before any content: documents (type, pages, page roles),
//! their set (base train, base validation, sequence set) and the sequences (bundles)
//! of the sequence set with their split.
//!
//! Drawn from stream 0 of the seeded ChaCha8 generator; each document's content uses
//! its own stream, so the content does not depend on the order documents are written.

use crate::params::*;
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// What a page is for, which decides how much type signal it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Page 1: header, letterhead, logo (the strongest signal).
    First,
    /// A type-specific content page.
    Body,
    /// A page that looks the same whatever the type.
    Generic(GenericKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GenericKind {
    /// Terms-and-conditions boilerplate.
    Terms,
    /// "This page is intentionally left blank".
    Blank,
    /// A signature / annex page.
    Signature,
    /// A near-empty continuation page.
    Continuation,
}

const GENERIC_KINDS: [GenericKind; 4] = [
    GenericKind::Terms,
    GenericKind::Blank,
    GenericKind::Signature,
    GenericKind::Continuation,
];

/// The sets a document can belong to (the base sets and the sequence set are disjoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Set {
    BaseTrain,
    BaseValidation,
    Sequence,
}

const SETS: [Set; 3] = [Set::BaseTrain, Set::BaseValidation, Set::Sequence];

/// The sequence model's splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    Train,
    Validation,
    Test,
}

pub(crate) const SPLITS: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

impl Split {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// Index in generation order: the id (`d000123`) and the content's random stream.
    pub index: usize,
    /// Index into `params::TYPES`.
    pub kind: usize,
    /// One role per page, page 1 first.
    pub roles: Vec<Role>,
    pub set: Set,
}

impl Document {
    pub(crate) fn id(&self) -> String {
        format!("d{:06}", self.index)
    }

    pub(crate) fn pages(&self) -> usize {
        self.roles.len()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sequence {
    pub index: usize,
    /// Indices into `Plan::documents`, in bundle order.
    pub documents: Vec<usize>,
    pub split: Split,
}

impl Sequence {
    pub(crate) fn id(&self) -> String {
        format!("s{:05}", self.index)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub documents: Vec<Document>,
    pub sequences: Vec<Sequence>,
}

/// Draws the plan: documents until the page total reaches `pages`, their sets, and the
/// sequences.
pub(crate) fn plan(rng: &mut ChaCha8Rng, pages: usize) -> Plan {
    let type_dist = weighted(TYPES.iter().map(|t| t.weight));
    let kind_dist = weighted(GENERIC_KIND_WEIGHTS);
    let mut documents = Vec::new();
    let mut total = 0usize;
    while total < pages {
        let kind = type_dist.sample(rng);
        let spec = &TYPES[kind];
        let count = rng.gen_range(spec.min_pages..=spec.max_pages);
        let roles = (0..count)
            .map(|page| {
                if page == 0 {
                    Role::First
                } else if rng.gen_bool(GENERIC_PAGE_PROB) {
                    Role::Generic(GENERIC_KINDS[kind_dist.sample(rng)])
                } else {
                    Role::Body
                }
            })
            .collect::<Vec<_>>();
        total += roles.len();
        documents.push(Document {
            index: documents.len(),
            kind,
            roles,
            set: Set::Sequence,
        });
    }
    assign_sets(&mut documents);
    let sequences = build_sequences(rng, &documents);
    Plan {
        documents,
        sequences,
    }
}

/// Per type, in (random) generation order, gives each document to the set furthest
/// below its page share: every set gets every type in the right proportion, with no
/// document split across sets.
fn assign_sets(documents: &mut [Document]) {
    for kind in 0..TYPES.len() {
        let mut assigned = [0u64; 3];
        let mut seen = 0u64;
        for document in documents.iter_mut().filter(|d| d.kind == kind) {
            seen += document.pages() as u64;
            let best = most_behind(&SET_SHARES_PERMILLE, &assigned, seen);
            assigned[best] += document.pages() as u64;
            document.set = SETS[best];
        }
    }
}

/// The index whose assigned amount is furthest below `share * total` (first on ties).
fn most_behind(shares_permille: &[u64; 3], assigned: &[u64; 3], total: u64) -> usize {
    let deficit = |i: usize| (shares_permille[i] * total) as i128 - (assigned[i] * 1000) as i128;
    let mut best = 0;
    for i in 1..3 {
        if deficit(i) > deficit(best) {
            best = i;
        }
    }
    best
}

/// Shuffles the sequence set's documents into bundles of 2-7 documents, forcing some
/// same-type neighbours, and splits the bundles train/validation/test.
fn build_sequences(rng: &mut ChaCha8Rng, documents: &[Document]) -> Vec<Sequence> {
    let mut pool: Vec<usize> = documents
        .iter()
        .filter(|d| d.set == Set::Sequence)
        .map(|d| d.index)
        .collect();
    pool.shuffle(rng);
    // Per-type queues in shuffled order: drawing a type with probability proportional to
    // its queue length and popping its front is a uniform draw from the pool, in O(types).
    let mut queues: Vec<VecDeque<usize>> = vec![VecDeque::new(); TYPES.len()];
    for &index in &pool {
        queues[documents[index].kind].push_back(index);
    }
    let mut remaining = pool.len() as u64;
    let (min_docs, max_docs) = SEQUENCE_DOCUMENTS;
    let mut sequences = Vec::new();
    while remaining > 0 {
        let mut size = u64::from(rng.gen_range(min_docs..=max_docs)).min(remaining);
        // Never leave a lone document for the last bundle.
        if remaining - size == 1 {
            size += 1;
        }
        let mut members: Vec<usize> = Vec::with_capacity(size as usize);
        for _ in 0..size {
            let previous_kind = members.last().map(|&d| documents[d].kind);
            let forced = match previous_kind {
                Some(kind) if !queues[kind].is_empty() && rng.gen_bool(SAME_TYPE_FOLLOW_PROB) => {
                    Some(kind)
                }
                _ => None,
            };
            let kind = match forced {
                Some(kind) => kind,
                None => {
                    let mut draw = rng.gen_range(0..remaining);
                    let mut chosen = 0;
                    for (kind, queue) in queues.iter().enumerate() {
                        if draw < queue.len() as u64 {
                            chosen = kind;
                            break;
                        }
                        draw -= queue.len() as u64;
                    }
                    chosen
                }
            };
            if let Some(document) = queues[kind].pop_front() {
                members.push(document);
                remaining -= 1;
            }
        }
        sequences.push(Sequence {
            index: sequences.len(),
            documents: members,
            split: Split::Train,
        });
    }
    assign_splits(&mut sequences, documents);
    sequences
}

/// The first three bundles go to train, validation and test (so every split exists even
/// for small datasets); each later one to the split furthest below its page share.
fn assign_splits(sequences: &mut [Sequence], documents: &[Document]) {
    let mut assigned = [0u64; 3];
    let mut seen = 0u64;
    for (i, sequence) in sequences.iter_mut().enumerate() {
        let pages: u64 = sequence
            .documents
            .iter()
            .map(|&d| documents[d].pages() as u64)
            .sum();
        seen += pages;
        let best = if i < 3 {
            i
        } else {
            most_behind(&SEQUENCE_SPLIT_PERMILLE, &assigned, seen)
        };
        assigned[best] += pages;
        sequence.split = SPLITS[best];
    }
}

pub(crate) fn weighted<I: IntoIterator<Item = u32>>(weights: I) -> WeightedIndex<u32> {
    match WeightedIndex::new(weights) {
        Ok(dist) => dist,
        // The weights are compile-time constants, all positive.
        Err(error) => unreachable!("invalid constant weights: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn sample_plan() -> Plan {
        plan(&mut ChaCha8Rng::seed_from_u64(7), 20_000)
    }

    #[test]
    fn about_a_third_of_non_first_pages_are_generic() {
        let plan = sample_plan();
        let non_first: Vec<Role> = plan
            .documents
            .iter()
            .flat_map(|d| d.roles[1..].iter().copied())
            .collect();
        let generic = non_first
            .iter()
            .filter(|r| matches!(r, Role::Generic(_)))
            .count();
        let share = generic as f64 / non_first.len() as f64;
        assert!((0.25..=0.35).contains(&share), "generic share {share}");
        assert!(plan.documents.iter().all(|d| d.roles[0] == Role::First));
        assert!(plan
            .documents
            .iter()
            .all(|d| d.roles[1..].iter().all(|r| *r != Role::First)));
    }

    #[test]
    fn set_and_split_shares_are_close_to_their_targets() {
        let plan = sample_plan();
        let total: usize = plan.documents.iter().map(Document::pages).sum();
        for (set, permille) in SETS.iter().zip(SET_SHARES_PERMILLE) {
            let pages: usize = plan
                .documents
                .iter()
                .filter(|d| d.set == *set)
                .map(Document::pages)
                .sum();
            let share = pages as f64 * 1000.0 / total as f64;
            assert!(
                (share - permille as f64).abs() < 10.0,
                "{set:?}: {share} vs {permille}"
            );
        }
        let sequence_pages: usize = plan
            .documents
            .iter()
            .filter(|d| d.set == Set::Sequence)
            .map(Document::pages)
            .sum();
        for (split, permille) in SPLITS.iter().zip(SEQUENCE_SPLIT_PERMILLE) {
            let pages: usize = plan
                .sequences
                .iter()
                .filter(|s| s.split == *split)
                .flat_map(|s| s.documents.iter().map(|&d| plan.documents[d].pages()))
                .sum();
            let share = pages as f64 * 1000.0 / sequence_pages as f64;
            assert!(
                (share - permille as f64).abs() < 15.0,
                "{split:?}: {share} vs {permille}"
            );
        }
    }

    #[test]
    fn every_sequence_document_is_in_exactly_one_bundle() {
        let plan = sample_plan();
        let mut bundled: Vec<usize> = plan
            .sequences
            .iter()
            .flat_map(|s| s.documents.iter().copied())
            .collect();
        bundled.sort_unstable();
        let expected: Vec<usize> = plan
            .documents
            .iter()
            .filter(|d| d.set == Set::Sequence)
            .map(|d| d.index)
            .collect();
        assert_eq!(bundled, expected);
        assert!(plan
            .sequences
            .iter()
            .all(|s| (2..=8).contains(&s.documents.len())));
    }

    #[test]
    fn page_level_majority_class_is_under_forty_percent() {
        let plan = sample_plan();
        let mut pages = [0usize; 5];
        for d in &plan.documents {
            pages[d.kind] += d.pages();
        }
        let total: usize = pages.iter().sum();
        let majority = *pages.iter().max().unwrap_or(&0) as f64 / total as f64;
        assert!(majority < 0.40, "majority share {majority}: {pages:?}");
    }
}
