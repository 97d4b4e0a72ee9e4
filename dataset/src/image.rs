//! Page images: small grayscale scans drawn from layout primitives (text lines,
//! paragraphs, table grids, number columns, card outline and photo, letterhead,
//! logo, signature), then degraded (shift, brightness/contrast, noise, speckles,
//! washed-out pages).
//!
//! Positions are fractions of the page so any size works; all arithmetic is basic
//! `f32`/integer arithmetic (no transcendental functions), so pixels are identical on
//! every platform.

use crate::params::*;
use crate::plan::{GenericKind, Role};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

/// What stays the same across a document's page images.
pub(crate) struct DocStyle {
    white: f32,
    ink: f32,
    contrast: f32,
    noise: i32,
    /// Horizontal margin offset (fraction of the width) of this document's layout.
    margin: f32,
    /// Extra line spacing (0 or 1 line unit) of this document's paragraphs.
    spacing: i32,
    /// Whether this document's first page has a logo block.
    logo: bool,
}

impl DocStyle {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> DocStyle {
        DocStyle {
            white: WHITE_MEAN + rng.gen_range(-WHITE_SPREAD..=WHITE_SPREAD),
            ink: rng.gen_range(INK_RANGE.0..=INK_RANGE.1),
            contrast: rng.gen_range(CONTRAST_RANGE.0..=CONTRAST_RANGE.1),
            noise: rng.gen_range(PIXEL_NOISE_RANGE.0..=PIXEL_NOISE_RANGE.1),
            margin: rng.gen_range(-MARGIN_JITTER..=MARGIN_JITTER),
            spacing: rng.gen_range(0..=1),
            logo: rng.gen_bool(OPTIONAL_ELEMENT_PROB),
        }
    }
}

/// Ink coverage (0 = paper, 1 = full ink) of a page, drawn in page fractions.
struct Canvas {
    w: i32,
    h: i32,
    dx: i32,
    dy: i32,
    /// Line thickness / unit, in pixels: 1 at the default 32x44.
    unit: i32,
    coverage: Vec<f32>,
}

impl Canvas {
    fn new(w: u32, h: u32, dx: i32, dy: i32) -> Canvas {
        let unit = ((h / 44).max(1)) as i32;
        Canvas {
            w: w as i32,
            h: h as i32,
            dx,
            dy,
            unit,
            coverage: vec![0.0; (w * h) as usize],
        }
    }

    fn x(&self, fraction: f32) -> i32 {
        (fraction * self.w as f32) as i32
    }

    fn y(&self, fraction: f32) -> i32 {
        (fraction * self.h as f32) as i32
    }

    fn put(&mut self, x: i32, y: i32, c: f32) {
        let (x, y) = (x + self.dx, y + self.dy);
        if x >= 0 && y >= 0 && x < self.w && y < self.h {
            let cell = &mut self.coverage[(y * self.w + x) as usize];
            if c > *cell {
                *cell = c;
            }
        }
    }

    /// Filled rectangle, pixel bounds [x0, x1) x [y0, y1).
    fn fill(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: f32) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.put(x, y, c);
            }
        }
    }

    fn hline(&mut self, x0: i32, x1: i32, y: i32, c: f32) {
        self.fill(x0, y, x1, y + self.unit, c);
    }

    fn vline(&mut self, x: i32, y0: i32, y1: i32, c: f32) {
        self.fill(x, y0, x + self.unit, y1, c);
    }

    fn outline(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: f32) {
        self.hline(x0, x1, y0, c);
        self.hline(x0, x1, y1 - self.unit, c);
        self.vline(x0, y0, y1, c);
        self.vline(x1 - self.unit, y0, y1, c);
    }

    /// A line of text: dark runs (words) separated by gaps.
    fn text_line(&mut self, rng: &mut ChaCha8Rng, x0: i32, x1: i32, y: i32, c: f32) {
        let mut x = x0;
        while x < x1 {
            let word = rng.gen_range(2..=5) * self.unit;
            let shade = c * rng.gen_range(0.8..=1.0);
            self.hline(x, (x + word).min(x1), y, shade);
            x += word + self.unit;
        }
    }

    /// `lines` text lines every `spacing` units from `y0`, the last one shorter.
    /// Returns the y after the paragraph.
    #[allow(clippy::too_many_arguments)] // coordinates, like the other primitives
    fn paragraph(
        &mut self,
        rng: &mut ChaCha8Rng,
        x0: i32,
        x1: i32,
        y0: i32,
        lines: i32,
        spacing: i32,
        c: f32,
    ) -> i32 {
        let mut y = y0;
        for line in 0..lines {
            let end = if line == lines - 1 {
                x0 + (x1 - x0) * rng.gen_range(3..=8) / 10
            } else {
                x1
            };
            self.text_line(rng, x0, end, y, c);
            y += spacing * self.unit;
        }
        y
    }

    /// Paragraphs separated by a blank line until `y1`.
    #[allow(clippy::too_many_arguments)]
    fn paragraphs(
        &mut self,
        rng: &mut ChaCha8Rng,
        x0: i32,
        x1: i32,
        y0: i32,
        y1: i32,
        spacing: i32,
        c: f32,
        markers: bool,
    ) {
        let mut y = y0;
        while y + spacing * self.unit <= y1 {
            let room = (y1 - y) / (spacing * self.unit);
            let lines = rng.gen_range(2..=5).min(room.max(1));
            if markers {
                // A clause number in the margin, a little darker.
                self.hline(x0 - 3 * self.unit, x0 - self.unit, y, (c + 0.15).min(1.0));
            }
            y = self.paragraph(rng, x0, x1, y, lines, spacing, c);
            y += spacing * self.unit;
        }
    }

    /// A ruled table: `rows` rows, vertical rules at `columns` fractions of its width.
    #[allow(clippy::too_many_arguments)]
    fn table(
        &mut self,
        rng: &mut ChaCha8Rng,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        rows: i32,
        columns: &[f32],
        c: f32,
    ) {
        self.outline(x0, y0, x1, y1, c);
        let row_height = ((y1 - y0) / rows.max(1)).max(1);
        let mut y = y0 + row_height;
        while y < y1 - self.unit {
            self.hline(x0, x1, y, c * 0.6);
            y += row_height;
        }
        for &column in columns {
            let x = x0 + ((x1 - x0) as f32 * column) as i32;
            self.vline(x, y0, y1, c * 0.7);
        }
        // Cell contents: short runs in the middle of each row.
        let mut y = y0 + row_height / 2;
        while y < y1 - self.unit && row_height >= 3 * self.unit {
            self.text_line(rng, x0 + 2 * self.unit, x0 + (x1 - x0) / 3, y, c * 0.7);
            y += row_height;
        }
    }

    /// Right-aligned numbers (bank statement amounts) ending at `x1`.
    fn number_column(
        &mut self,
        rng: &mut ChaCha8Rng,
        x1: i32,
        y0: i32,
        y1: i32,
        spacing: i32,
        c: f32,
    ) {
        let mut y = y0;
        while y < y1 {
            let width = rng.gen_range(3..=6) * self.unit;
            self.hline(x1 - width, x1, y, c);
            y += spacing * self.unit;
        }
    }

    /// A handwritten signature: a random walk around `y`.
    fn squiggle(&mut self, rng: &mut ChaCha8Rng, x0: i32, x1: i32, y: i32, c: f32) {
        let mut yy = y;
        for x in x0..x1 {
            yy = (yy + rng.gen_range(-1..=1) * self.unit)
                .clamp(y - 2 * self.unit, y + 2 * self.unit);
            self.put(x, yy, c);
            self.put(x, yy + 1, c * 0.6);
        }
    }

    /// An ID photo: a mid-gray block with a lighter face-shaped ellipse.
    fn photo(&mut self, x0: i32, y0: i32, x1: i32, y1: i32) {
        let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 * 0.45);
        let (rx, ry) = (
            ((x1 - x0) as f32 / 3.0).max(1.0),
            ((y1 - y0) as f32 / 3.0).max(1.0),
        );
        for y in y0..y1 {
            for x in x0..x1 {
                let (ex, ey) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                let face = ex * ex + ey * ey <= 1.0;
                self.put(x, y, if face { 0.35 } else { 0.7 });
            }
        }
    }
}

/// Renders one page to `width * height` grayscale bytes.
pub(crate) fn render(
    rng: &mut ChaCha8Rng,
    style: &DocStyle,
    kind: usize,
    role: Role,
    is_last: bool,
    width: u32,
    height: u32,
) -> Vec<u8> {
    let dx = rng.gen_range(-MAX_SHIFT..=MAX_SHIFT);
    let dy = rng.gen_range(-MAX_SHIFT..=MAX_SHIFT);
    let mut canvas = Canvas::new(width, height, dx, dy);
    let text = rng.gen_range(0.55..=0.8);
    match role {
        Role::First => first_page(rng, &mut canvas, style, kind, is_last, text),
        Role::Body => body_page(rng, &mut canvas, style, kind, is_last, text),
        Role::Generic(generic) => generic_page(rng, &mut canvas, generic, text),
    }
    if rng.gen_bool(0.5) {
        // Page number in the footer, on every type.
        let (x0, x1, y) = (canvas.x(0.44), canvas.x(0.56), canvas.y(0.95));
        canvas.text_line(rng, x0, x1, y, text);
    }
    finish(rng, &canvas, style)
}

fn first_page(
    rng: &mut ChaCha8Rng,
    cv: &mut Canvas,
    style: &DocStyle,
    kind: usize,
    is_last: bool,
    text: f32,
) {
    let m = style.margin;
    match kind {
        BANK_STATEMENT => {
            if style.logo {
                cv.fill(cv.x(0.70 + m), cv.y(0.03), cv.x(0.92 + m), cv.y(0.09), 0.9);
            }
            for i in 0..3 {
                let y = cv.y(0.08) + 2 * i * cv.unit;
                let x1 = cv.x(rng.gen_range(0.30..=0.45) + m);
                cv.text_line(rng, cv.x(0.08 + m), x1, y, text);
            }
            cv.hline(cv.x(0.08 + m), cv.x(0.55 + m), cv.y(0.20), 1.0);
            statement_rows(rng, cv, style, 0.26, 0.90, text);
        }
        CONTRACT => {
            cv.hline(cv.x(0.22 + m), cv.x(0.78 + m), cv.y(0.05), 1.0);
            cv.hline(cv.x(0.22 + m), cv.x(0.78 + m), cv.y(0.05) + cv.unit, 1.0);
            cv.text_line(rng, cv.x(0.35 + m), cv.x(0.65 + m), cv.y(0.11), text);
            cv.text_line(rng, cv.x(0.30 + m), cv.x(0.70 + m), cv.y(0.15), text);
            let y1 = if is_last { 0.62 } else { 0.92 };
            cv.paragraphs(
                rng,
                cv.x(0.12 + m),
                cv.x(0.92 + m),
                cv.y(0.22),
                cv.y(y1),
                2,
                text,
                true,
            );
            if is_last {
                contract_signatures(rng, cv, text);
            }
        }
        ID_CARD => id_card_front(rng, cv, style, text),
        LETTER => {
            if style.logo {
                cv.fill(cv.x(0.08 + m), cv.y(0.03), cv.x(0.22 + m), cv.y(0.08), 0.85);
            }
            cv.hline(cv.x(0.05), cv.x(0.95), cv.y(0.10), 0.8);
            for i in 0..4 {
                let y = cv.y(0.15) + 2 * i * cv.unit;
                let x1 = cv.x(rng.gen_range(0.30..=0.48) + m);
                cv.text_line(rng, cv.x(0.12 + m), x1, y, text);
            }
            cv.text_line(rng, cv.x(0.65 + m), cv.x(0.86 + m), cv.y(0.30), text);
            let y1 = if is_last { 0.74 } else { 0.92 };
            cv.paragraphs(
                rng,
                cv.x(0.16 + m),
                cv.x(0.84 + m),
                cv.y(0.38),
                cv.y(y1),
                3 + style.spacing,
                text,
                false,
            );
            if is_last {
                letter_signature(rng, cv, style, text);
            }
        }
        _ => {
            // payslip
            if style.logo {
                cv.fill(cv.x(0.06 + m), cv.y(0.03), cv.x(0.22 + m), cv.y(0.09), 0.9);
            }
            cv.hline(cv.x(0.35 + m), cv.x(0.70 + m), cv.y(0.05), 1.0);
            for i in 0..3 {
                let y = cv.y(0.14) + 2 * i * cv.unit;
                cv.text_line(rng, cv.x(0.08 + m), cv.x(0.38 + m), y, text);
                cv.text_line(rng, cv.x(0.56 + m), cv.x(0.88 + m), y, text);
            }
            let rows = rng.gen_range(7..=10);
            cv.table(
                rng,
                cv.x(0.06 + m),
                cv.y(0.32),
                cv.x(0.94 + m),
                cv.y(0.76),
                rows,
                &[0.55, 0.78],
                0.85,
            );
            cv.hline(cv.x(0.60 + m), cv.x(0.92 + m), cv.y(0.82), 1.0);
        }
    }
}

fn body_page(
    rng: &mut ChaCha8Rng,
    cv: &mut Canvas,
    style: &DocStyle,
    kind: usize,
    is_last: bool,
    text: f32,
) {
    let m = style.margin;
    match kind {
        BANK_STATEMENT => {
            let y1 = if is_last {
                rng.gen_range(0.4..=0.9)
            } else {
                0.92
            };
            statement_rows(rng, cv, style, 0.05, y1, text);
            if is_last {
                // Closing balance.
                cv.hline(cv.x(0.70 + m), cv.x(0.92 + m), cv.y(y1) + 2 * cv.unit, 1.0);
            }
        }
        CONTRACT => {
            let y1 = if is_last { 0.62 } else { 0.93 };
            cv.paragraphs(
                rng,
                cv.x(0.12 + m),
                cv.x(0.92 + m),
                cv.y(0.05),
                cv.y(y1),
                2,
                text,
                true,
            );
            if is_last {
                contract_signatures(rng, cv, text);
            }
        }
        ID_CARD => id_card_back(rng, cv, style, text),
        LETTER => {
            let y1 = if is_last {
                rng.gen_range(0.35..=0.7)
            } else {
                0.92
            };
            cv.paragraphs(
                rng,
                cv.x(0.16 + m),
                cv.x(0.84 + m),
                cv.y(0.08),
                cv.y(y1),
                3 + style.spacing,
                text,
                false,
            );
            if is_last {
                letter_signature(rng, cv, style, text);
            }
        }
        _ => {
            // payslip: the rest of the table, then notes.
            let rows = rng.gen_range(4..=7);
            cv.table(
                rng,
                cv.x(0.06 + m),
                cv.y(0.05),
                cv.x(0.94 + m),
                cv.y(0.45),
                rows,
                &[0.55, 0.78],
                0.85,
            );
            cv.paragraphs(
                rng,
                cv.x(0.08 + m),
                cv.x(0.90 + m),
                cv.y(0.55),
                cv.y(0.72),
                2,
                text,
                false,
            );
        }
    }
}

/// Generic pages ignore the document's style: they look alike whatever the type.
fn generic_page(rng: &mut ChaCha8Rng, cv: &mut Canvas, generic: GenericKind, text: f32) {
    match generic {
        GenericKind::Terms => {
            cv.text_line(rng, cv.x(0.30), cv.x(0.70), cv.y(0.05), text);
            // Small print in two columns.
            cv.paragraphs(
                rng,
                cv.x(0.08),
                cv.x(0.47),
                cv.y(0.10),
                cv.y(0.93),
                2,
                text * 0.8,
                false,
            );
            cv.paragraphs(
                rng,
                cv.x(0.53),
                cv.x(0.92),
                cv.y(0.10),
                cv.y(0.93),
                2,
                text * 0.8,
                false,
            );
        }
        GenericKind::Blank => {
            cv.text_line(rng, cv.x(0.25), cv.x(0.75), cv.y(0.50), text);
        }
        GenericKind::Signature => {
            cv.text_line(rng, cv.x(0.10), cv.x(0.40), cv.y(0.08), text);
            let lines = rng.gen_range(2..=5);
            cv.paragraph(rng, cv.x(0.10), cv.x(0.90), cv.y(0.15), lines, 2, text);
            for x in [0.10, 0.58] {
                if rng.gen_bool(0.6) {
                    cv.squiggle(rng, cv.x(x + 0.04), cv.x(x + 0.28), cv.y(0.66), 0.9);
                }
                cv.hline(cv.x(x), cv.x(x + 0.32), cv.y(0.72), 0.8);
            }
        }
        GenericKind::Continuation => {
            let lines = rng.gen_range(2..=5);
            cv.paragraph(rng, cv.x(0.10), cv.x(0.90), cv.y(0.05), lines, 2, text);
        }
    }
}

/// Statement lines: date, description, and right-aligned amounts.
fn statement_rows(
    rng: &mut ChaCha8Rng,
    cv: &mut Canvas,
    style: &DocStyle,
    y0: f32,
    y1: f32,
    text: f32,
) {
    let m = style.margin;
    let (top, bottom) = (cv.y(y0), cv.y(y1));
    cv.hline(cv.x(0.06 + m), cv.x(0.94 + m), top, 0.9);
    let spacing = 2 + style.spacing;
    let mut y = top + 2 * cv.unit;
    while y < bottom {
        cv.text_line(rng, cv.x(0.08 + m), cv.x(0.22 + m), y, text);
        let end = cv.x(rng.gen_range(0.35..=0.62) + m);
        cv.text_line(rng, cv.x(0.26 + m), end, y, text);
        y += spacing * cv.unit;
    }
    cv.number_column(
        rng,
        cv.x(0.92 + m),
        top + 2 * cv.unit,
        bottom,
        spacing,
        text + 0.1,
    );
    if rng.gen_bool(OPTIONAL_ELEMENT_PROB) {
        cv.vline(cv.x(0.70 + m), top, bottom, 0.5);
    }
}

fn contract_signatures(rng: &mut ChaCha8Rng, cv: &mut Canvas, text: f32) {
    cv.text_line(rng, cv.x(0.12), cv.x(0.50), cv.y(0.68), text);
    for x in [0.10, 0.58] {
        cv.squiggle(rng, cv.x(x + 0.03), cv.x(x + 0.27), cv.y(0.78), 0.95);
        cv.hline(cv.x(x), cv.x(x + 0.32), cv.y(0.83), 0.8);
    }
}

fn letter_signature(rng: &mut ChaCha8Rng, cv: &mut Canvas, style: &DocStyle, text: f32) {
    let m = style.margin;
    cv.text_line(rng, cv.x(0.16 + m), cv.x(0.40 + m), cv.y(0.77), text);
    cv.squiggle(rng, cv.x(0.16 + m), cv.x(0.42 + m), cv.y(0.83), 0.95);
    cv.text_line(rng, cv.x(0.16 + m), cv.x(0.36 + m), cv.y(0.89), text);
}

/// The card's outline on the upper part of the scanned page.
fn card(cv: &mut Canvas, style: &DocStyle) -> (i32, i32, i32, i32) {
    let m = style.margin;
    let (x0, y0, x1, y1) = (cv.x(0.10 + m), cv.y(0.06), cv.x(0.90 + m), cv.y(0.38));
    cv.outline(x0, y0, x1, y1, 0.9);
    (x0, y0, x1, y1)
}

fn id_card_front(rng: &mut ChaCha8Rng, cv: &mut Canvas, style: &DocStyle, text: f32) {
    let (x0, y0, x1, y1) = card(cv, style);
    let u = cv.unit;
    if style.logo {
        // The coloured band across the card's top.
        cv.fill(x0, y0, x1, y0 + 2 * u, 0.45);
    }
    let width = x1 - x0;
    cv.photo(x0 + width / 16, y0 + 3 * u, x0 + width * 5 / 16, y1 - 2 * u);
    let mut y = y0 + 3 * u;
    while y < y1 - 2 * u {
        let end = x0 + width * rng.gen_range(65..=94) / 100;
        cv.text_line(rng, x0 + width * 3 / 8, end, y, text);
        y += 2 * u;
    }
}

fn id_card_back(rng: &mut ChaCha8Rng, cv: &mut Canvas, style: &DocStyle, text: f32) {
    let (x0, y0, x1, y1) = card(cv, style);
    let u = cv.unit;
    for i in 0..3 {
        let end = x0 + (x1 - x0) * rng.gen_range(45..=80) / 100;
        cv.text_line(rng, x0 + 2 * u, end, y0 + (2 + 2 * i) * u, text);
    }
    // The machine-readable zone: dense, unbroken lines at the bottom of the card.
    for i in 0..3 {
        cv.hline(x0 + 2 * u, x1 - 2 * u, y1 - (3 + 2 * i) * u, 0.75);
    }
}

/// Coverage to pixels: paper and ink levels, contrast (washed-out pages barely show
/// their ink), per-pixel noise and speckles.
fn finish(rng: &mut ChaCha8Rng, cv: &Canvas, style: &DocStyle) -> Vec<u8> {
    let washed_out = rng.gen_bool(WASHED_OUT_PROB);
    let contrast = if washed_out {
        rng.gen_range(WASHED_OUT_CONTRAST.0..=WASHED_OUT_CONTRAST.1)
    } else {
        style.contrast
    };
    let white = style.white;
    let depth = (white - style.ink) * contrast;
    let noise = style.noise;
    let span = (2 * noise + 1) as u32;
    let mut pixels: Vec<u8> = cv
        .coverage
        .iter()
        .map(|&c| {
            // Triangular noise: the sum of two uniforms (one draw split in halves; the
            // modulo bias is negligible), no transcendental functions.
            let r = rng.next_u32();
            let n = ((r & 0xffff) % span) as i32 + ((r >> 16) % span) as i32 - 2 * noise;
            let value = white - c * depth + (n / 2) as f32;
            value.clamp(0.0, 255.0) as u8
        })
        .collect();
    let per_1000 = rng.gen_range(SPECKLES_PER_1000.0..=SPECKLES_PER_1000.1);
    let speckles = pixels.len() as u32 * per_1000 / 1000;
    for _ in 0..speckles {
        let i = rng.gen_range(0..pixels.len() as u32) as usize;
        pixels[i] = if rng.gen_bool(0.7) {
            rng.gen_range(0..=90)
        } else {
            255
        };
    }
    pixels
}
