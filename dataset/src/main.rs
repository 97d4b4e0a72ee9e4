//! `generate-dataset`: writes the seeded document-classification dataset to a directory
//! and prints its summary on stderr. Exit codes: 0 done, 2 bad options, 1 I/O error.

use clap::Parser;
use dataset::{Options, WriteError};
use std::path::PathBuf;
use std::process::ExitCode;

const LAYOUT: &str = "\
Writes, under --out (created if needed):

  text/train/, text/validation/      TextPage  {page_id, document_id, page_number, label, text}
  image/train/, image/validation/    ImagePage {page_id, document_id, page_number, label, width, height, pixels}
  sequence/text/                     SequenceText  {page_id, text}
  sequence/image/                    SequenceImage {page_id, width, height, pixels}
  sequence/labels/                   SequenceLabel {page_id, sequence_id, position, document_id,
                                                    page_number, split, label, starts_document}
  dataset.json                       the options and the summary

Each folder holds JSON Lines parts part-00000.jsonl, part-00001.jsonl, ... of at most 1,000
pages. `pixels` is base64 of width*height 8-bit grayscale bytes, row-major. The text/ and
image/ sets (the base models' train/validation, ~40%/~15% of pages) and the sequence set
(~45%, bundles of 2-7 documents split train/validation/test ~60/20/20) hold disjoint
documents. Stale part files left by an earlier, larger generation are removed; nothing
else in --out is touched. The same options always give byte-identical files.";

/// Generates the seeded multi-page document-classification dataset.
#[derive(Debug, Parser)]
#[command(
    name = "generate-dataset",
    version,
    about,
    after_help = "Run with --help for the files written and their schema.",
    after_long_help = LAYOUT
)]
struct Args {
    /// Directory to write the dataset into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Random seed: the same seed gives the same dataset.
    #[arg(long, value_name = "N", default_value_t = Options::default().seed)]
    seed: u64,
    /// Approximate total number of pages (50..=1000000).
    #[arg(long, value_name = "N", default_value_t = Options::default().pages)]
    pages: usize,
    /// Page image width in pixels (16..=256).
    #[arg(long, value_name = "N", default_value_t = Options::default().width)]
    width: u32,
    /// Page image height in pixels (16..=256).
    #[arg(long, value_name = "N", default_value_t = Options::default().height)]
    height: u32,
}

fn main() -> ExitCode {
    // clap exits with 2 on unparsable arguments, like our own option errors.
    let args = Args::parse();
    let options = Options {
        seed: args.seed,
        pages: args.pages,
        width: args.width,
        height: args.height,
    };
    match dataset::write(&options, &args.out) {
        Ok(summary) => {
            eprintln!("generate-dataset: wrote {}", args.out.display());
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error @ WriteError::Options(_)) => {
            eprintln!("generate-dataset: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("generate-dataset: {error}");
            ExitCode::from(1)
        }
    }
}
