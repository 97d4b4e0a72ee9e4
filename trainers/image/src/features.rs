//! Layout features of a page bitmap, and their standardisation.
//!
//! A page is an 8-bit grayscale bitmap (0 = black, 255 = white). Every feature is
//! computed on "ink", `1 - p / 255`, so blank paper is 0 whatever its size. The
//! features are plain image statistics; the learning is linfa's:
//!
//! - block means: mean ink over `block` x `block` cells (the coarse picture);
//! - row and column ink profiles (where the text lines and columns are);
//! - the overall ink fraction;
//! - structure cues, on dark pixels (ink > 0.5): per row the number of dark runs,
//!   the longest run and the left and right margins; per column the number of runs
//!   and the longest run; and four page-level counts (rows and columns crossed by a
//!   long rule, inked rows, dark pixels in long runs). Table grids, right-aligned
//!   number columns, photo blocks and signatures differ most in these.

use serde::{Deserialize, Serialize};

/// A pixel is "dark" (part of a run) above this much ink: mid-grey.
const DARK: f64 = 0.5;

/// A validated bitmap: `pixels.len() == width * height`, both non-zero.
#[derive(Debug, Clone, Copy)]
pub struct Bitmap<'a> {
    width: usize,
    height: usize,
    pixels: &'a [u8],
}

impl<'a> Bitmap<'a> {
    /// Checks the size; the message says what is wrong (the caller names the page).
    pub fn new(width: u32, height: u32, pixels: &'a [u8]) -> Result<Bitmap<'a>, String> {
        let (w, h) = (width as usize, height as usize);
        if w == 0 || h == 0 {
            return Err(format!("bitmap size {width}x{height} is empty"));
        }
        match w.checked_mul(h) {
            Some(n) if n == pixels.len() => Ok(Bitmap {
                width: w,
                height: h,
                pixels,
            }),
            _ => Err(format!(
                "pixels hold {} bytes but width x height is {width}x{height}",
                pixels.len()
            )),
        }
    }

    fn ink(&self, x: usize, y: usize) -> f64 {
        1.0 - f64::from(self.pixels[y * self.width + x]) / 255.0
    }
}

/// How many features `extract` gives for this size and block.
pub fn feature_count(width: usize, height: usize, block: usize) -> usize {
    let block = block.max(1);
    let cells = width.div_ceil(block) * height.div_ceil(block);
    // block means + row profile + column profile + ink fraction
    // + 4 per row (runs, longest, left, right) + 2 per column (runs, longest) + 4 page counts
    cells + height + width + 1 + 4 * height + 2 * width + 4
}

/// Dark runs along one line: (number of runs, longest run, first dark index, last
/// dark index); the indices are None for a line without a dark pixel.
fn runs(line: impl Iterator<Item = f64>) -> (usize, usize, Option<usize>, Option<usize>) {
    let (mut count, mut longest, mut current) = (0, 0, 0);
    let (mut first, mut last) = (None, None);
    for (i, ink) in line.enumerate() {
        if ink > DARK {
            if current == 0 {
                count += 1;
            }
            current += 1;
            longest = longest.max(current);
            first.get_or_insert(i);
            last = Some(i);
        } else {
            current = 0;
        }
    }
    (count, longest, first, last)
}

/// The feature vector of one bitmap (length `feature_count(width, height, block)`).
pub fn extract(bitmap: &Bitmap<'_>, block: usize) -> Vec<f64> {
    let (w, h) = (bitmap.width, bitmap.height);
    let block = block.max(1);
    let mut out = Vec::with_capacity(feature_count(w, h, block));

    // Block means; edge cells may be partial, so divide by the pixels they hold.
    for by in (0..h).step_by(block) {
        for bx in (0..w).step_by(block) {
            let (y_end, x_end) = ((by + block).min(h), (bx + block).min(w));
            let mut sum = 0.0;
            for y in by..y_end {
                for x in bx..x_end {
                    sum += bitmap.ink(x, y);
                }
            }
            out.push(sum / ((y_end - by) * (x_end - bx)) as f64);
        }
    }

    let mut total = 0.0;
    for y in 0..h {
        let row: f64 = (0..w).map(|x| bitmap.ink(x, y)).sum();
        total += row;
        out.push(row / w as f64);
    }
    for x in 0..w {
        out.push((0..h).map(|y| bitmap.ink(x, y)).sum::<f64>() / h as f64);
    }
    out.push(total / (w * h) as f64);

    // A rule (table border, underline) spans at least half the page.
    let (long_row, long_col) = (w.div_ceil(2), h.div_ceil(2));
    let (mut ruled_rows, mut ruled_cols, mut inked_rows, mut dark_in_long) = (0, 0, 0, 0);
    for y in 0..h {
        let (count, longest, first, last) = runs((0..w).map(|x| bitmap.ink(x, y)));
        out.push(count as f64);
        out.push(longest as f64 / w as f64);
        // Margins as fractions of the width; an empty row is all margin.
        out.push(first.map_or(1.0, |f| f as f64 / w as f64));
        out.push(last.map_or(1.0, |l| (w - 1 - l) as f64 / w as f64));
        if longest >= long_row {
            ruled_rows += 1;
            dark_in_long += longest;
        }
        if first.is_some() {
            inked_rows += 1;
        }
    }
    for x in 0..w {
        let (count, longest, _, _) = runs((0..h).map(|y| bitmap.ink(x, y)));
        out.push(count as f64);
        out.push(longest as f64 / h as f64);
        if longest >= long_col {
            ruled_cols += 1;
        }
    }
    out.push(ruled_rows as f64 / h as f64);
    out.push(ruled_cols as f64 / w as f64);
    out.push(inked_rows as f64 / h as f64);
    out.push(dark_in_long as f64 / (w * h) as f64);
    out
}

/// Per-feature mean and standard deviation of the training set: features are
/// standardised so one L2 penalty suits them all and L-BFGS converges quickly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Standardiser {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardiser {
    /// Fits on the rows (all of the same length). A constant feature gets std 1, so
    /// it standardises to 0 rather than dividing by zero.
    pub fn fit(rows: &[Vec<f64>]) -> Standardiser {
        let d = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in rows {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for row in rows {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var
            .into_iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-9 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Standardiser { mean, std }
    }

    pub fn len(&self) -> usize {
        self.mean.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Standardises one row in place (extra or missing values are left alone; the
    /// callers only pass rows of `len()`).
    pub fn apply(&self, row: &mut [f64]) {
        for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_checks_the_size() {
        assert!(Bitmap::new(2, 2, &[0; 4]).is_ok());
        assert!(Bitmap::new(2, 2, &[0; 3]).unwrap_err().contains("3 bytes"));
        assert!(Bitmap::new(0, 2, &[]).is_err());
        assert!(Bitmap::new(u32::MAX, u32::MAX, &[]).is_err());
    }

    #[test]
    fn features_describe_the_layout() {
        // 4 wide, 3 high: a full black rule on row 0, one dark pixel at (3, 2).
        let px = [0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 0];
        let bitmap = Bitmap::new(4, 3, &px).unwrap();
        let f = extract(&bitmap, 2);
        assert_eq!(f.len(), feature_count(4, 3, 2));
        // block means: 2x2 cells, the bottom row of cells is 2x1
        assert_eq!(&f[..4], &[0.5, 0.5, 0.0, 0.5]);
        // row profile, column profile, ink fraction
        assert_eq!(&f[4..7], &[1.0, 0.0, 0.25]);
        assert_eq!(&f[7..11], &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(f[11], 5.0 / 12.0);
        // row 0: one run of 4, no margins; row 1 empty; row 2: one run of 1 at the right
        assert_eq!(&f[12..16], &[1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&f[16..20], &[0.0, 0.0, 1.0, 1.0]);
        assert_eq!(&f[20..24], &[1.0, 0.25, 0.75, 0.0]);
        // column 3: two runs (rows 0 and 2), longest 1 of 3
        assert_eq!(&f[30..32], &[2.0, 1.0 / 3.0]);
        // page counts: one ruled row of 3, no ruled column (longest 1 < 2), 2 inked rows
        let n = f.len();
        assert_eq!(&f[n - 4..], &[1.0 / 3.0, 0.0, 2.0 / 3.0, 4.0 / 12.0]);
    }

    #[test]
    fn standardiser_centres_and_scales_and_keeps_constants_finite() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = Standardiser::fit(&rows);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        let mut r = vec![3.0, 5.0];
        s.apply(&mut r);
        assert_eq!(r, vec![1.0, 0.0]);
    }
}
