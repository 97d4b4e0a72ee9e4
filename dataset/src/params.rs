//! Every knob of the generator in one place, with what it does to the difficulty.
//!
//! The dataset is tuned so that each base model (text, image) is clearly better than
//! the majority class but far from perfect, their errors are partly independent (bad
//! text scans and washed-out images are drawn independently), and the sequence
//! context helps (generic pages carry little type signal on their own, but their
//! neighbours in the same document do).
//!
//! Probabilities are `f64` used only through `Rng::gen_bool` / basic arithmetic, so the
//! output stays byte-identical on every platform.

/// One document type: its label, relative frequency per document and page range.
pub(crate) struct TypeSpec {
    pub label: &'static str,
    /// Relative frequency per document (percent). Long types (contract) get fewer
    /// documents so the page-level majority class stays under 40%.
    pub weight: u32,
    /// Inclusive page range, drawn uniformly.
    pub min_pages: u32,
    pub max_pages: u32,
}

/// Sorted by label: the index into this array is the type's class index, and matches
/// `schema::DOCUMENT_TYPES`.
pub(crate) const TYPES: [TypeSpec; 5] = [
    TypeSpec {
        label: "bank_statement",
        weight: 20,
        min_pages: 2,
        max_pages: 5,
    },
    TypeSpec {
        label: "contract",
        weight: 16,
        min_pages: 3,
        max_pages: 8,
    },
    TypeSpec {
        label: "id_card",
        weight: 15,
        min_pages: 1,
        max_pages: 2,
    },
    TypeSpec {
        label: "letter",
        weight: 21,
        min_pages: 1,
        max_pages: 3,
    },
    TypeSpec {
        label: "payslip",
        weight: 28,
        min_pages: 1,
        max_pages: 2,
    },
];

pub(crate) const BANK_STATEMENT: usize = 0;
pub(crate) const CONTRACT: usize = 1;
pub(crate) const ID_CARD: usize = 2;
pub(crate) const LETTER: usize = 3;
// Payslip is the `_` arm of the matches on type; named for completeness.
#[allow(dead_code)]
pub(crate) const PAYSLIP: usize = 4;

// ---- Sets and sequences -------------------------------------------------------------

/// Target page shares (per mille) of base train, base validation and the sequence set.
/// Documents are assigned whole, per type, to the set furthest below its target.
pub(crate) const SET_SHARES_PERMILLE: [u64; 3] = [400, 150, 450];
/// Target page shares (per mille) of the sequence splits train / validation / test.
pub(crate) const SEQUENCE_SPLIT_PERMILLE: [u64; 3] = [600, 200, 200];
/// Documents per sequence (bundle), inclusive. Longer bundles give the sequence model
/// more context but more boundaries to find.
pub(crate) const SEQUENCE_DOCUMENTS: (u32, u32) = (2, 7);
/// Probability that the next document of a bundle is forced to have the previous
/// one's type (on top of chance): higher makes boundaries harder to find from type
/// changes alone (several payslips in a row is a common upload).
pub(crate) const SAME_TYPE_FOLLOW_PROB: f64 = 0.25;

// ---- Page roles -------------------------------------------------------------------

/// Probability that a non-first page is generic (terms, blank, signature/annex,
/// near-empty continuation) rather than a type-specific body page. Generic pages are
/// where neither base model can do better than a guess: higher = harder base models,
/// more value in the sequence context.
pub(crate) const GENERIC_PAGE_PROB: f64 = 0.30;
/// Relative weights of the generic kinds: terms, blank, signature/annex, continuation.
pub(crate) const GENERIC_KIND_WEIGHTS: [u32; 4] = [35, 20, 25, 20];

// ---- Text -------------------------------------------------------------------------

/// How a page's words are drawn (relative weights): the type's own words, another
/// type's words (confusers), boilerplate shared by all types, entities (names, dates,
/// amounts, IBANs). More `own` = easier text model.
pub(crate) struct Mix {
    pub own: u32,
    pub confuser: u32,
    pub boilerplate: u32,
    pub entity: u32,
}
/// First pages: after the header, the richest in type words.
pub(crate) const FIRST_MIX: Mix = Mix {
    own: 22,
    confuser: 8,
    boilerplate: 52,
    entity: 18,
};
/// Body pages: fewer type words, more boilerplate.
pub(crate) const BODY_MIX: Mix = Mix {
    own: 12,
    confuser: 9,
    boilerplate: 61,
    entity: 18,
};
/// Words per page (before OCR merges/splits) by role, inclusive.
pub(crate) const FIRST_WORDS: (u32, u32) = (40, 90);
pub(crate) const BODY_WORDS: (u32, u32) = (60, 150);
/// ID cards hold little text.
pub(crate) const ID_CARD_WORDS: (u32, u32) = (20, 40);
pub(crate) const TERMS_WORDS: (u32, u32) = (80, 150);
pub(crate) const SHORT_GENERIC_WORDS: (u32, u32) = (20, 40);
/// Per-document OCR word-error rate range (uniform): each word is corrupted with this
/// probability (character confusions, drops, doubles, merges, splits, punctuation).
pub(crate) const SCAN_ERROR_RATE: (f64, f64) = (0.0, 0.12);
/// Probability that a page is badly scanned (most words garbled): the text model fails
/// there while the image may not.
pub(crate) const BAD_SCAN_PROB: f64 = 0.08;
/// Word-error rate of a badly scanned page; each corrupted word gets 2-3 edits.
pub(crate) const BAD_SCAN_ERROR_RATE: f64 = 0.9;

// ---- Image ------------------------------------------------------------------------

/// Paper brightness per document: mean and +- spread (uniform).
pub(crate) const WHITE_MEAN: f32 = 235.0;
pub(crate) const WHITE_SPREAD: f32 = 10.0;
/// Ink darkness per document (uniform, inclusive).
pub(crate) const INK_RANGE: (f32, f32) = (20.0, 60.0);
/// Contrast per document (uniform): 1.0 = full ink.
pub(crate) const CONTRAST_RANGE: (f32, f32) = (0.75, 1.0);
/// Per-pixel noise amplitude per document (triangular noise in +-amplitude).
pub(crate) const PIXEL_NOISE_RANGE: (i32, i32) = (4, 14);
/// Random shift of the whole page, in pixels (both axes, +-).
pub(crate) const MAX_SHIFT: i32 = 2;
/// Per-document jitter of margins, as a fraction of the width (+-).
pub(crate) const MARGIN_JITTER: f32 = 0.04;
/// Speckles (isolated dark or light pixels) per 1,000 pixels, inclusive range per page.
pub(crate) const SPECKLES_PER_1000: (u32, u32) = (0, 12);
/// Probability that a page image is washed out (very faint): the image model fails
/// there while the text may not. Drawn independently of the text's bad scans.
pub(crate) const WASHED_OUT_PROB: f64 = 0.08;
/// Contrast of a washed-out page (uniform): the ink barely differs from the paper.
pub(crate) const WASHED_OUT_CONTRAST: (f32, f32) = (0.04, 0.12);
/// Probability that an optional element (logo, footer, photo band, ...) is drawn:
/// lower = less distinctive first pages.
pub(crate) const OPTIONAL_ELEMENT_PROB: f64 = 0.65;
