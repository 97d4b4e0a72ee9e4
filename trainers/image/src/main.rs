//! The image trainer container: `image-trainer train` or `image-trainer serve`.
use std::process::ExitCode;

fn main() -> ExitCode {
    trainer_kit::container_main(
        "image-trainer",
        image_trainer::train,
        image_trainer::ImageModel::load,
    )
}
