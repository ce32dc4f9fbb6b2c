//! Duplicates with conflicting labels: pairs of identical or near-identical images
//! that carry different labels, the failure mode the curvature paper found in
//! CIFAR-100 and ImageNet. Exact copies are found by hashing (`exact.rs`), near
//! copies by a radius search in a PCA projection (`projection.rs`, `kdtree.rs`) whose
//! candidates are verified with the true distance (`search.rs`): no step compares
//! all pairs, and the projection cannot hide a pair within the threshold.

mod exact;
mod kdtree;
mod projection;
mod rows;
mod search;

pub use rows::{FlatRows, ImageRows};
pub use search::{find_conflicting_pairs, rms_distance, ConflictingPair, DuplicateFindings, PROJECTED_DIMS};
