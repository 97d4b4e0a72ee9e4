//! The dataset is neither trivial nor hopeless: simple honest classifiers (nearest
//! centroid over word counts for text, over 4x4-block pixel means for images), trained
//! on base train and measured on base validation, beat the majority class clearly but
//! stay far from perfect, and their errors are partly independent.

use dataset::{decode_pixels, generate, records, ImagePage, Options, TextPage};
use std::collections::BTreeMap;

/// Nearest centroid by cosine similarity (features are L2-normalised first).
struct NearestCentroid {
    centroids: Vec<Vec<f64>>,
}

fn normalise(mut v: Vec<f64>) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl NearestCentroid {
    fn fit(features: &[Vec<f64>], labels: &[usize], classes: usize) -> NearestCentroid {
        let dim = features[0].len();
        let mut centroids = vec![vec![0.0; dim]; classes];
        let mut counts = vec![0.0; classes];
        for (x, &y) in features.iter().zip(labels) {
            counts[y] += 1.0;
            for (c, v) in centroids[y].iter_mut().zip(x) {
                *c += v;
            }
        }
        for (centroid, count) in centroids.iter_mut().zip(&counts) {
            centroid.iter_mut().for_each(|c| *c /= count);
        }
        NearestCentroid {
            centroids: centroids.into_iter().map(normalise).collect(),
        }
    }

    fn predict(&self, x: &[f64]) -> usize {
        let score = |c: &Vec<f64>| c.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
        (0..self.centroids.len())
            .max_by(|&a, &b| score(&self.centroids[a]).total_cmp(&score(&self.centroids[b])))
            .unwrap()
    }
}

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace().map(|t| t.to_lowercase())
}

fn text_features(pages: &[TextPage], vocabulary: &BTreeMap<String, usize>) -> Vec<Vec<f64>> {
    pages
        .iter()
        .map(|page| {
            let mut counts = vec![0.0; vocabulary.len()];
            for token in tokens(&page.text) {
                if let Some(&i) = vocabulary.get(&token) {
                    counts[i] += 1.0;
                }
            }
            normalise(counts)
        })
        .collect()
}

/// Means of 4x4 pixel blocks, centred (ink is what matters, not the paper's brightness).
fn image_features(pages: &[ImagePage]) -> Vec<Vec<f64>> {
    pages
        .iter()
        .map(|page| {
            let pixels = decode_pixels(&page.pixels, page.width, page.height).unwrap();
            let (w, h) = (page.width as usize, page.height as usize);
            let mut blocks = Vec::new();
            for by in 0..h / 4 {
                for bx in 0..w / 4 {
                    let mut sum = 0.0;
                    for y in 0..4 {
                        for x in 0..4 {
                            sum += 255.0 - f64::from(pixels[(by * 4 + y) * w + bx * 4 + x]);
                        }
                    }
                    blocks.push(sum / 16.0);
                }
            }
            let mean = blocks.iter().sum::<f64>() / blocks.len() as f64;
            normalise(blocks.into_iter().map(|b| b - mean).collect())
        })
        .collect()
}

fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    truth.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

#[test]
fn simple_classifiers_are_useful_but_imperfect() {
    let (files, _) = generate(&Options::default()).unwrap();
    let text_train: Vec<TextPage> = records(&files, "text/train").unwrap();
    let text_validation: Vec<TextPage> = records(&files, "text/validation").unwrap();
    let image_train: Vec<ImagePage> = records(&files, "image/train").unwrap();
    let image_validation: Vec<ImagePage> = records(&files, "image/validation").unwrap();

    let classes: Vec<String> = {
        let mut labels: Vec<String> = text_train.iter().map(|p| p.label.clone()).collect();
        labels.sort();
        labels.dedup();
        labels
    };
    let class = |label: &str| classes.iter().position(|c| c == label).unwrap();
    let y_train: Vec<usize> = text_train.iter().map(|p| class(&p.label)).collect();
    let y_validation: Vec<usize> = text_validation.iter().map(|p| class(&p.label)).collect();
    // The image sets hold the same pages in the same order.
    assert!(image_train
        .iter()
        .map(|p| &p.page_id)
        .eq(text_train.iter().map(|p| &p.page_id)));
    assert!(image_validation
        .iter()
        .map(|p| &p.page_id)
        .eq(text_validation.iter().map(|p| &p.page_id)));

    let mut counts = vec![0usize; classes.len()];
    y_validation.iter().for_each(|&y| counts[y] += 1);
    let majority = *counts.iter().max().unwrap() as f64 / y_validation.len() as f64;

    // Text: vocabulary of training tokens seen at least twice.
    let mut frequency: BTreeMap<String, usize> = BTreeMap::new();
    for page in &text_train {
        for token in tokens(&page.text) {
            *frequency.entry(token).or_default() += 1;
        }
    }
    let vocabulary: BTreeMap<String, usize> = frequency
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .enumerate()
        .map(|(i, (token, _))| (token, i))
        .collect();
    let text_model = NearestCentroid::fit(
        &text_features(&text_train, &vocabulary),
        &y_train,
        classes.len(),
    );
    let text_predicted: Vec<usize> = text_features(&text_validation, &vocabulary)
        .iter()
        .map(|x| text_model.predict(x))
        .collect();
    let text_accuracy = accuracy(&y_validation, &text_predicted);

    let image_model = NearestCentroid::fit(&image_features(&image_train), &y_train, classes.len());
    let image_predicted: Vec<usize> = image_features(&image_validation)
        .iter()
        .map(|x| image_model.predict(x))
        .collect();
    let image_accuracy = accuracy(&y_validation, &image_predicted);

    let text_right: Vec<bool> = text_predicted
        .iter()
        .zip(&y_validation)
        .map(|(p, y)| p == y)
        .collect();
    let image_right: Vec<bool> = image_predicted
        .iter()
        .zip(&y_validation)
        .map(|(p, y)| p == y)
        .collect();
    let n = y_validation.len() as f64;
    let either = text_right
        .iter()
        .zip(&image_right)
        .filter(|(t, i)| **t || **i)
        .count() as f64
        / n;
    let both_wrong = text_right
        .iter()
        .zip(&image_right)
        .filter(|(t, i)| !**t && !**i)
        .count() as f64
        / n;
    // First pages vs the rest.
    let first: Vec<usize> = (0..text_validation.len())
        .filter(|&i| text_validation[i].page_number == 1)
        .collect();
    let rest: Vec<usize> = (0..text_validation.len())
        .filter(|&i| text_validation[i].page_number > 1)
        .collect();
    let share = |right: &[bool], idx: &[usize]| {
        idx.iter().filter(|&&i| right[i]).count() as f64 / idx.len() as f64
    };

    // Context: every page voting with its document's text and image predictions (what a
    // sequence model that finds the boundaries can do) fixes most generic pages.
    let mut votes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, page) in text_validation.iter().enumerate() {
        let tally = votes
            .entry(page.document_id.as_str())
            .or_insert_with(|| vec![0; classes.len()]);
        // First pages are the most reliable: they count double.
        let weight = if page.page_number == 1 { 2 } else { 1 };
        tally[text_predicted[i]] += weight;
        tally[image_predicted[i]] += weight;
    }
    let voted: Vec<usize> = text_validation
        .iter()
        .map(|page| {
            let tally = &votes[page.document_id.as_str()];
            (0..classes.len())
                .max_by_key(|&c| (tally[c], std::cmp::Reverse(c)))
                .unwrap()
        })
        .collect();
    let context_accuracy = accuracy(&y_validation, &voted);

    println!(
        "validation pages {}: majority baseline {majority:.3}, text accuracy {text_accuracy:.3} \
         (first pages {:.3}, others {:.3}), image accuracy {image_accuracy:.3} (first pages {:.3}, \
         others {:.3}); either right {either:.3}, both wrong {both_wrong:.3} (if independent {:.3}); \
         document vote {context_accuracy:.3}",
        y_validation.len(),
        share(&text_right, &first),
        share(&text_right, &rest),
        share(&image_right, &first),
        share(&image_right, &rest),
        (1.0 - text_accuracy) * (1.0 - image_accuracy),
    );
    assert!(majority < 0.4, "majority baseline {majority}");
    assert!(
        (0.55..=0.95).contains(&text_accuracy),
        "text accuracy {text_accuracy}"
    );
    assert!(
        (0.4..=0.9).contains(&image_accuracy),
        "image accuracy {image_accuracy}"
    );
    assert!(text_accuracy > majority + 0.15 && image_accuracy > majority + 0.1);
    // Partly independent errors: together they get more pages right than either alone.
    assert!(
        either > text_accuracy.max(image_accuracy) + 0.03,
        "either right {either}"
    );
    // Context helps.
    assert!(
        context_accuracy > text_accuracy.max(image_accuracy) + 0.05,
        "document vote {context_accuracy}"
    );
}
