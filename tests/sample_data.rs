//! A small dataset in the layout `input_data` expects (README: "Dataset layout"), made
//! by the project's own generator (`dataset`), held in memory for tests and the demo.

/// `(key relative to input_data, body)` for every object of a generated dataset of
/// about `pages` pages (at least 50).
pub fn sample_dataset(pages: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let options = dataset::Options {
        pages,
        seed,
        ..dataset::Options::default()
    };
    match dataset::generate(&options) {
        Ok((files, _summary)) => files.into_iter().map(|f| (f.path, f.body)).collect(),
        Err(e) => panic!("sample dataset: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_has_every_folder_of_the_layout() {
        let keys: Vec<String> = sample_dataset(50, 7).into_iter().map(|(k, _)| k).collect();
        for folder in dataset::FOLDERS {
            assert!(
                keys.iter().any(|k| k.starts_with(&format!("{folder}/"))),
                "{folder}: {keys:?}"
            );
        }
    }
}
