//! The sequence trainer's container entry point: `sequence-trainer train` or `sequence-trainer serve`.
use std::process::ExitCode;

fn main() -> ExitCode {
    trainer_kit::container_main(
        "sequence-trainer",
        sequence_trainer::train,
        sequence_trainer::SequenceModel::load,
    )
}
