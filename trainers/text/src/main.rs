//! The text trainer's container entry point: `text-trainer train` or `text-trainer serve`.

use std::process::ExitCode;

fn main() -> ExitCode {
    trainer_kit::container_main(
        "text-trainer",
        text_trainer::train,
        text_trainer::TextModel::load,
    )
}
