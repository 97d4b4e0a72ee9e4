//! OCR-like page text: type-specific headers and vocabularies (some words deliberately
//! shared between two types), boilerplate shared by all types, entities (names, dates,
//! amounts, IBANs), and OCR errors driven by a per-document scan quality.

use crate::params::*;
use crate::plan::{weighted, GenericKind, Role};
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// ~40 words per type, in decreasing frequency (drawn Zipf-like). Shared on purpose:
/// salary (payslip, contract), account (bank_statement, letter), address (letter,
/// id_card), payment/period (payslip, bank_statement), employer/employee/position
/// (payslip, contract), signature (id_card, contract), reference (letter,
/// bank_statement), deposit (bank_statement, contract).
const TYPE_WORDS: [&[&str]; 5] = [
    // bank_statement
    &[
        "balance",
        "account",
        "transaction",
        "credit",
        "debit",
        "statement",
        "transfer",
        "opening",
        "closing",
        "iban",
        "bic",
        "deposit",
        "withdrawal",
        "period",
        "payment",
        "reference",
        "interest",
        "fee",
        "charges",
        "overdraft",
        "branch",
        "card",
        "booking",
        "value",
        "payee",
        "payer",
        "available",
        "limit",
        "standing",
        "order",
        "mandate",
        "cheque",
        "cash",
        "posted",
        "pending",
        "currency",
        "exchange",
        "online",
        "banking",
        "transactions",
    ],
    // contract
    &[
        "agreement",
        "parties",
        "employee",
        "employer",
        "salary",
        "clause",
        "term",
        "termination",
        "contract",
        "notice",
        "probation",
        "article",
        "confidentiality",
        "liability",
        "governing",
        "jurisdiction",
        "signed",
        "witness",
        "commencement",
        "duties",
        "position",
        "working",
        "remuneration",
        "vacation",
        "leave",
        "indemnify",
        "breach",
        "amendment",
        "severability",
        "entire",
        "dispute",
        "arbitration",
        "renewal",
        "tenant",
        "landlord",
        "lease",
        "premises",
        "deposit",
        "signature",
        "obligations",
    ],
    // id_card
    &[
        "identity",
        "card",
        "surname",
        "given",
        "names",
        "nationality",
        "birth",
        "date",
        "expiry",
        "issued",
        "authority",
        "holder",
        "sex",
        "height",
        "eyes",
        "national",
        "address",
        "residence",
        "republic",
        "valid",
        "until",
        "place",
        "signature",
        "document",
        "citizen",
        "personal",
        "issuing",
        "expires",
        "permit",
        "municipality",
        "registration",
        "gender",
        "female",
        "male",
        "colour",
        "born",
        "photo",
        "id",
        "country",
        "code",
    ],
    // letter
    &[
        "dear",
        "sincerely",
        "regards",
        "yours",
        "letter",
        "writing",
        "inform",
        "kind",
        "faithfully",
        "pleased",
        "enclosed",
        "reply",
        "address",
        "account",
        "meeting",
        "appointment",
        "thank",
        "reference",
        "subject",
        "matter",
        "confirm",
        "attached",
        "hesitate",
        "hope",
        "look",
        "forward",
        "hearing",
        "apologize",
        "concerning",
        "behalf",
        "mr",
        "mrs",
        "ms",
        "enclosure",
        "best",
        "wishes",
        "telephone",
        "email",
        "previous",
        "response",
    ],
    // payslip
    &[
        "salary",
        "gross",
        "net",
        "pay",
        "tax",
        "deductions",
        "employee",
        "period",
        "earnings",
        "payslip",
        "employer",
        "income",
        "social",
        "security",
        "contribution",
        "pension",
        "hours",
        "overtime",
        "rate",
        "bonus",
        "allowance",
        "payroll",
        "withholding",
        "insurance",
        "health",
        "basic",
        "month",
        "payment",
        "department",
        "position",
        "ytd",
        "total",
        "payable",
        "cumulative",
        "taxable",
        "class",
        "unemployment",
        "church",
        "solidarity",
        "holiday",
    ],
];

/// ~80 words every type uses (and the generic pages are made of).
const BOILERPLATE: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "for",
    "on",
    "with",
    "by",
    "this",
    "that",
    "is",
    "are",
    "be",
    "as",
    "at",
    "from",
    "or",
    "any",
    "all",
    "such",
    "shall",
    "may",
    "will",
    "no",
    "not",
    "under",
    "herein",
    "hereby",
    "pursuant",
    "accordance",
    "provided",
    "including",
    "without",
    "limitation",
    "information",
    "page",
    "please",
    "note",
    "terms",
    "conditions",
    "applicable",
    "law",
    "data",
    "protection",
    "processing",
    "purposes",
    "rights",
    "section",
    "further",
    "above",
    "below",
    "subject",
    "copy",
    "original",
    "number",
    "name",
    "customer",
    "service",
    "questions",
    "regarding",
    "respect",
    "whereas",
    "therefore",
    "hereinafter",
    "referred",
    "respectively",
    "within",
    "days",
    "receipt",
    "upon",
    "our",
    "your",
    "we",
    "you",
    "has",
    "have",
    "been",
    "which",
    "other",
    "its",
    "their",
    "an",
    "a",
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katrin",
    "Lukas", "Maria", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tina", "Yusuf",
];
const LAST_NAMES: &[&str] = &[
    "Becker",
    "Costa",
    "Dubois",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Jansen",
    "Kowalski",
    "Lambert",
    "Martin",
    "Novak",
    "Olsen",
    "Peters",
    "Rossi",
    "Schmidt",
    "Weber",
    "Yilmaz",
    "Zimmermann",
    "Moreau",
    "Nowak",
];
const CITIES: &[&str] = &[
    "Berlin", "Hamburg", "Munich", "Cologne", "Vienna", "Zurich", "Lyon", "Milan", "Porto",
    "Ghent", "Leipzig", "Graz",
];
const STREETS: &[&str] = &[
    "Hauptstrasse",
    "Bahnhofstrasse",
    "Gartenweg",
    "Lindenallee",
    "Marktplatz",
    "Rue Victor",
    "Via Roma",
    "Schillerstrasse",
    "Parkstrasse",
    "Bergweg",
];
const COMPANIES: &[&str] = &[
    "Nordlicht GmbH",
    "Alpen Logistik AG",
    "Rhein Bank",
    "Sparkasse Mitte",
    "Atlas Consulting",
    "Vega Software",
    "Kern Bau GmbH",
    "Orbis Insurance",
    "Delta Retail",
    "Helix Pharma",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const NATIONALITIES: &[&str] = &["DEU", "AUT", "FRA", "ITA", "NLD", "POL", "PRT", "BEL"];
const SUBJECTS: &[&str] = &[
    "your request",
    "change of address",
    "your account",
    "our meeting",
    "your application",
    "outstanding invoice",
    "confirmation",
];

/// Relative weights of entity kinds per type: name, date, amount, IBAN, number, place.
const ENTITY_WEIGHTS: [[u32; 6]; 5] = [
    [5, 30, 40, 15, 10, 0],  // bank_statement
    [30, 25, 20, 0, 10, 15], // contract
    [30, 30, 0, 0, 30, 10],  // id_card
    [30, 20, 10, 5, 10, 25], // letter
    [15, 20, 50, 5, 10, 0],  // payslip
];

/// OCR character confusions (applied in either direction where listed twice).
const CONFUSIONS: &[(&str, &str)] = &[
    ("o", "0"),
    ("O", "0"),
    ("l", "1"),
    ("l", "i"),
    ("i", "l"),
    ("I", "1"),
    ("rn", "m"),
    ("m", "rn"),
    ("e", "c"),
    ("s", "5"),
    ("S", "5"),
    ("B", "8"),
    ("cl", "d"),
    ("d", "cl"),
    ("a", "o"),
    ("u", "v"),
    ("h", "b"),
];
const STRAY_PUNCTUATION: &[char] = &['.', ',', ';', ':', '\'', '~', '-', '|'];

/// Relative weights of OCR edits: confusion, drop, double, merge, split, punctuation.
const EDIT_WEIGHTS: [u32; 6] = [40, 15, 10, 10, 10, 15];

/// What stays the same across a document's pages.
pub(crate) struct DocContext {
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub company: &'static str,
    pub city: &'static str,
    pub street: &'static str,
    pub year: u32,
    pub month: usize,
    /// Per-document OCR word-error rate.
    pub scan_error_rate: f64,
}

impl DocContext {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> DocContext {
        DocContext {
            first_name: pick(rng, FIRST_NAMES),
            last_name: pick(rng, LAST_NAMES),
            company: pick(rng, COMPANIES),
            city: pick(rng, CITIES),
            street: pick(rng, STREETS),
            year: rng.gen_range(2015..=2026),
            month: rng.gen_range(0..12u32) as usize,
            scan_error_rate: rng.gen_range(SCAN_ERROR_RATE.0..=SCAN_ERROR_RATE.1),
        }
    }
}

/// The distributions, built once per generation.
pub(crate) struct TextGenerator {
    type_words: Vec<WeightedIndex<u32>>,
    entity_kinds: Vec<WeightedIndex<u32>>,
    edits: WeightedIndex<u32>,
}

/// One page to write, as the text generator sees it.
pub(crate) struct PageSpec {
    pub kind: usize,
    pub role: Role,
    pub page_number: u32,
    pub page_count: u32,
}

impl TextGenerator {
    pub(crate) fn new() -> TextGenerator {
        // Zipf-like: the r-th word is about 1/(r+2) as frequent.
        let zipf = |n: usize| weighted((0..n as u32).map(|r| 1200 / (r + 2)));
        TextGenerator {
            type_words: TYPE_WORDS.iter().map(|words| zipf(words.len())).collect(),
            entity_kinds: ENTITY_WEIGHTS
                .iter()
                .map(|w| weighted(w.iter().copied()))
                .collect(),
            edits: weighted(EDIT_WEIGHTS),
        }
    }

    /// The OCR text of one page.
    pub(crate) fn page(&self, rng: &mut ChaCha8Rng, doc: &DocContext, page: &PageSpec) -> String {
        let mut words: Vec<String> = Vec::new();
        let kind = page.kind;
        let is_last = page.page_number == page.page_count;
        match page.role {
            Role::First => {
                self.header(rng, doc, kind, &mut words);
                let range = if kind == ID_CARD {
                    ID_CARD_WORDS
                } else {
                    FIRST_WORDS
                };
                let target = rng.gen_range(range.0..=range.1) as usize;
                self.fill(rng, doc, kind, &FIRST_MIX, target, &mut words);
            }
            Role::Body => {
                if kind == ID_CARD {
                    self.id_card_back(rng, doc, &mut words);
                }
                let range = if kind == ID_CARD {
                    ID_CARD_WORDS
                } else {
                    BODY_WORDS
                };
                let target = rng.gen_range(range.0..=range.1) as usize;
                self.fill(rng, doc, kind, &BODY_MIX, target, &mut words);
            }
            Role::Generic(generic) => self.generic(rng, doc, generic, page, &mut words),
        }
        if page.role != Role::First || page.page_count == 1 {
            self.closing(rng, doc, kind, page.role, is_last, &mut words);
        }
        if page.page_count > 1 && rng.gen_bool(0.6) {
            push_all(
                &mut words,
                &format!("Page {} of {}", page.page_number, page.page_count),
            );
        }
        let bad_scan = rng.gen_bool(BAD_SCAN_PROB);
        let (rate, edits) = if bad_scan {
            (BAD_SCAN_ERROR_RATE, (2, 3))
        } else {
            (doc.scan_error_rate, (1, 1))
        };
        let words = self.corrupt(rng, words, rate, edits);
        layout_lines(rng, &words)
    }

    fn header(&self, rng: &mut ChaCha8Rng, doc: &DocContext, kind: usize, words: &mut Vec<String>) {
        let month = MONTHS[doc.month];
        let year = doc.year;
        let name = format!("{} {}", doc.first_name, doc.last_name);
        let header = match kind {
            BANK_STATEMENT => {
                let title = match rng.gen_range(0..4u32) {
                    0 => "Account Statement".to_string(),
                    1 => "BANK STATEMENT".to_string(),
                    2 => format!("Statement of Account No. {}", rng.gen_range(1..=60u32)),
                    _ => format!("Monthly Account Statement {month} {year}"),
                };
                format!(
                    "{} {title} {name} IBAN {} Statement period {} - {} Opening balance {}",
                    doc.company,
                    iban(rng),
                    date(rng, year),
                    date(rng, year),
                    amount(rng)
                )
            }
            CONTRACT => {
                let title = match rng.gen_range(0..4u32) {
                    0 => "EMPLOYMENT CONTRACT",
                    1 => "SERVICE AGREEMENT",
                    2 => "TENANCY AGREEMENT",
                    _ => "CONTRACT OF EMPLOYMENT",
                };
                format!(
                    "{title} between {} hereinafter the Employer and {name} hereinafter the Employee",
                    doc.company
                )
            }
            ID_CARD => {
                let born = year - rng.gen_range(18..=70u32);
                let title = match rng.gen_range(0..4u32) {
                    0 => "IDENTITY CARD",
                    1 => "NATIONAL IDENTITY CARD",
                    2 => "REPUBLIC IDENTITY CARD ID",
                    _ => "ID CARD",
                };
                format!(
                    "{title} Surname {} Given names {} Date of birth {} Nationality {} Card No. {}",
                    doc.last_name.to_uppercase(),
                    doc.first_name.to_uppercase(),
                    date(rng, born),
                    pick(rng, NATIONALITIES),
                    id_number(rng)
                )
            }
            LETTER => {
                let salutation = if rng.gen_bool(0.5) { "Mr" } else { "Ms" };
                format!(
                    "{name} {} {} {} {} {}, {} Re: {} Dear {salutation} {},",
                    doc.street,
                    rng.gen_range(1..=120u32),
                    rng.gen_range(10_000..=99_999u32),
                    doc.city,
                    doc.city,
                    date(rng, year),
                    pick(rng, SUBJECTS),
                    pick(rng, LAST_NAMES)
                )
            }
            _ => {
                let title = match rng.gen_range(0..4u32) {
                    0 => "PAYSLIP".to_string(),
                    1 => format!("Pay Slip {month} {year}"),
                    2 => format!("Salary Statement {month} {year}"),
                    _ => "EARNINGS STATEMENT".to_string(),
                };
                format!(
                    "{} {title} Employee {name} Personnel No. {} Period {month} {year}",
                    doc.company,
                    rng.gen_range(1000..=99_999u32)
                )
            }
        };
        push_all(words, &header);
    }

    fn id_card_back(&self, rng: &mut ChaCha8Rng, doc: &DocContext, words: &mut Vec<String>) {
        let mrz = format!(
            "IDD<<{}<<{}<<<<<<<<<<<<",
            doc.last_name.to_uppercase(),
            doc.first_name.to_uppercase()
        );
        let text = format!(
            "Address {} {} {} {} Date of issue {} Authority {} {mrz}",
            doc.street,
            rng.gen_range(1..=120u32),
            rng.gen_range(10_000..=99_999u32),
            doc.city,
            date(rng, doc.year),
            doc.city
        );
        push_all(words, &text);
    }

    /// Ends a document the way its type does (letters, contracts), on its last page.
    fn closing(
        &self,
        rng: &mut ChaCha8Rng,
        doc: &DocContext,
        kind: usize,
        role: Role,
        is_last: bool,
        words: &mut Vec<String>,
    ) {
        if !is_last || matches!(role, Role::Generic(_)) {
            return;
        }
        let name = format!("{} {}", doc.first_name, doc.last_name);
        match kind {
            LETTER => {
                let closing = if rng.gen_bool(0.5) {
                    "Yours sincerely"
                } else {
                    "Kind regards"
                };
                push_all(words, &format!("{closing} {name}"));
            }
            CONTRACT => push_all(
                words,
                &format!(
                    "Signed at {} on {} the Employer the Employee",
                    doc.city,
                    date(rng, doc.year)
                ),
            ),
            _ => {}
        }
    }

    fn generic(
        &self,
        rng: &mut ChaCha8Rng,
        doc: &DocContext,
        generic: GenericKind,
        page: &PageSpec,
        words: &mut Vec<String>,
    ) {
        match generic {
            GenericKind::Terms => {
                if rng.gen_bool(0.6) {
                    push_all(words, "General Terms and Conditions");
                }
                let target = rng.gen_range(TERMS_WORDS.0..=TERMS_WORDS.1) as usize;
                while words.len() < target {
                    words.push(pick(rng, BOILERPLATE).to_string());
                }
            }
            GenericKind::Blank => {
                push_all(words, "This page is intentionally left blank");
                push_all(
                    words,
                    &format!(
                        "{} Page {} of {}",
                        doc.company, page.page_number, page.page_count
                    ),
                );
                self.filler(rng, SHORT_GENERIC_WORDS.0 as usize, words);
            }
            GenericKind::Signature => {
                let title = if rng.gen_bool(0.5) {
                    format!("Annex {}", rng.gen_range(1..=5u32))
                } else {
                    "Signatures".to_string()
                };
                push_all(
                    words,
                    &format!(
                        "{title} Place and date {} {} Signature {} {} Signature",
                        doc.city,
                        date(rng, doc.year),
                        doc.first_name,
                        doc.last_name
                    ),
                );
                let target = rng.gen_range(SHORT_GENERIC_WORDS.0..=SHORT_GENERIC_WORDS.1) as usize;
                self.filler(rng, target, words);
            }
            GenericKind::Continuation => {
                push_all(
                    words,
                    if rng.gen_bool(0.5) {
                        "(continued)"
                    } else {
                        "continued from previous page"
                    },
                );
                let target = rng.gen_range(SHORT_GENERIC_WORDS.0..=SHORT_GENERIC_WORDS.1) as usize;
                self.filler(rng, target, words);
            }
        }
    }

    /// Boilerplate and the odd date up to `target` words.
    fn filler(&self, rng: &mut ChaCha8Rng, target: usize, words: &mut Vec<String>) {
        while words.len() < target {
            if rng.gen_bool(0.1) {
                words.push(date(rng, 2020));
            } else {
                words.push(pick(rng, BOILERPLATE).to_string());
            }
        }
    }

    /// Adds words drawn from `mix` until there are `target` more.
    fn fill(
        &self,
        rng: &mut ChaCha8Rng,
        doc: &DocContext,
        kind: usize,
        mix: &Mix,
        target: usize,
        words: &mut Vec<String>,
    ) {
        let sources = weighted([mix.own, mix.confuser, mix.boilerplate, mix.entity]);
        let end = words.len() + target;
        while words.len() < end {
            match sources.sample(rng) {
                0 => words.push(self.type_word(rng, kind).to_string()),
                1 => {
                    // Another type, uniformly.
                    let other =
                        (kind + rng.gen_range(1..TYPES.len() as u32) as usize) % TYPES.len();
                    words.push(self.type_word(rng, other).to_string());
                }
                2 => words.push(pick(rng, BOILERPLATE).to_string()),
                _ => {
                    let entity = self.entity(rng, doc, kind);
                    push_all(words, &entity);
                }
            }
        }
    }

    fn type_word(&self, rng: &mut ChaCha8Rng, kind: usize) -> &'static str {
        TYPE_WORDS[kind][self.type_words[kind].sample(rng)]
    }

    fn entity(&self, rng: &mut ChaCha8Rng, doc: &DocContext, kind: usize) -> String {
        match self.entity_kinds[kind].sample(rng) {
            0 => format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)),
            1 => date(rng, doc.year),
            2 => amount(rng),
            3 => iban(rng),
            4 => format!("No. {}", rng.gen_range(100_000..=999_999u32)),
            _ => format!("{} {} {}", doc.street, rng.gen_range(1..=120u32), doc.city),
        }
    }

    /// OCR errors: each word is corrupted with probability `rate`, with a number of edits
    /// drawn from `edits` (inclusive).
    fn corrupt(
        &self,
        rng: &mut ChaCha8Rng,
        words: Vec<String>,
        rate: f64,
        edits: (u32, u32),
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(words.len());
        let mut merge_next = false;
        for word in words {
            let mut pieces = vec![word];
            if rate > 0.0 && rng.gen_bool(rate.min(1.0)) {
                for _ in 0..rng.gen_range(edits.0..=edits.1) {
                    let Some(last) = pieces.last_mut() else { break };
                    match self.edits.sample(rng) {
                        0 => confuse(rng, last),
                        1 => {
                            if last.len() > 1 {
                                last.remove(char_index(rng, last));
                            }
                        }
                        2 => {
                            let i = char_index(rng, last);
                            if let Some(c) = last[i..].chars().next() {
                                last.insert(i, c);
                            }
                        }
                        3 => merge_next = true,
                        4 => {
                            if last.len() >= 4 && last.is_ascii() {
                                let at = rng.gen_range(1..last.len() as u32 - 1) as usize;
                                let tail = last.split_off(at);
                                pieces.push(tail);
                            }
                        }
                        _ => {
                            let c = pick(rng, STRAY_PUNCTUATION);
                            if rng.gen_bool(0.5) {
                                last.push(c);
                            } else {
                                last.insert(0, c);
                            }
                        }
                    }
                }
            }
            for piece in pieces {
                match (merge_next, out.last_mut()) {
                    (true, Some(previous)) => {
                        previous.push_str(&piece);
                        merge_next = false;
                    }
                    _ => out.push(piece),
                }
            }
        }
        out.retain(|w| !w.is_empty());
        out
    }
}

/// A character boundary of an ASCII-or-not word (generated words are ASCII, but an
/// earlier edit may not keep it so; stay on boundaries anyway).
fn char_index(rng: &mut ChaCha8Rng, word: &str) -> usize {
    let count = word.chars().count().max(1) as u32;
    let nth = rng.gen_range(0..count) as usize;
    word.char_indices().nth(nth).map_or(0, |(i, _)| i)
}

/// Applies one applicable character confusion at a random occurrence.
fn confuse(rng: &mut ChaCha8Rng, word: &mut String) {
    let applicable: Vec<(usize, &(&str, &str))> = CONFUSIONS
        .iter()
        .flat_map(|pair| word.match_indices(pair.0).map(move |(i, _)| (i, pair)))
        .collect();
    if applicable.is_empty() {
        return;
    }
    let (at, (from, to)) = applicable[rng.gen_range(0..applicable.len() as u32) as usize];
    word.replace_range(at..at + from.len(), to);
}

/// Joins words into lines of 5-12 words, as OCR returns them.
fn layout_lines(rng: &mut ChaCha8Rng, words: &[String]) -> String {
    let mut text = String::new();
    let mut left = rng.gen_range(5..=12u32);
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            if left == 0 {
                text.push('\n');
                left = rng.gen_range(5..=12u32);
            } else {
                text.push(' ');
            }
        }
        text.push_str(word);
        left = left.saturating_sub(1);
    }
    text
}

fn push_all(words: &mut Vec<String>, text: &str) {
    words.extend(text.split_whitespace().map(str::to_string));
}

/// A uniform pick; `gen_range` on u32 (not usize) keeps the stream identical on 32- and
/// 64-bit platforms.
pub(crate) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len() as u32) as usize]
}

fn date(rng: &mut ChaCha8Rng, year: u32) -> String {
    format!(
        "{:02}.{:02}.{}",
        rng.gen_range(1..=28u32),
        rng.gen_range(1..=12u32),
        year
    )
}

/// "1.234,56 EUR": European thousands and decimal separators.
fn amount(rng: &mut ChaCha8Rng) -> String {
    let cents = if rng.gen_bool(0.7) {
        rng.gen_range(100..=500_000u64)
    } else {
        rng.gen_range(100..=10_000_000u64)
    };
    let euros = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{grouped},{:02} EUR", cents % 100)
}

fn iban(rng: &mut ChaCha8Rng) -> String {
    format!(
        "DE{:02} {:04} {:04} {:04} {:04} {:02}",
        rng.gen_range(10..=99u32),
        rng.gen_range(0..=9999u32),
        rng.gen_range(0..=9999u32),
        rng.gen_range(0..=9999u32),
        rng.gen_range(0..=9999u32),
        rng.gen_range(0..=99u32)
    )
}

fn id_number(rng: &mut ChaCha8Rng) -> String {
    const LETTERS: &[u8] = b"CFGHJKLMNPRTVWXYZ";
    let mut id = String::new();
    for _ in 0..3 {
        id.push(char::from(pick(rng, LETTERS)));
    }
    id.push_str(&rng.gen_range(100_000..=999_999u32).to_string());
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn amounts_use_european_separators() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let amount = amount(&mut rng);
            let number = amount.strip_suffix(" EUR").unwrap();
            let (euros, cents) = number.split_once(',').unwrap();
            assert_eq!(cents.len(), 2, "{amount}");
            assert!(euros.split('.').skip(1).all(|g| g.len() == 3), "{amount}");
            assert!(
                !euros.starts_with('.') && !euros.starts_with('0'),
                "{amount}"
            );
        }
    }

    #[test]
    fn bad_scans_garble_most_words_and_clean_scans_none() {
        let generator = TextGenerator::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let words: Vec<String> = BOILERPLATE.iter().map(|w| w.to_string()).collect();
        let clean = generator.corrupt(&mut rng, words.clone(), 0.0, (1, 1));
        assert_eq!(clean, words);
        let garbled = generator.corrupt(&mut rng, words.clone(), BAD_SCAN_ERROR_RATE, (2, 3));
        let intact = garbled
            .iter()
            .filter(|w| BOILERPLATE.contains(&w.as_str()))
            .count();
        assert!(
            intact * 2 < words.len(),
            "{intact} of {} intact: {garbled:?}",
            words.len()
        );
    }

    #[test]
    fn first_pages_carry_their_header() {
        let generator = TextGenerator::new();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut doc = DocContext::draw(&mut rng);
        doc.scan_error_rate = 0.0;
        let page = PageSpec {
            kind: CONTRACT,
            role: Role::First,
            page_number: 1,
            page_count: 3,
        };
        let mut found = false;
        for _ in 0..20 {
            let text = generator.page(&mut rng, &doc, &page);
            found |= text.contains("AGREEMENT") || text.contains("CONTRACT");
        }
        assert!(found);
    }
}
