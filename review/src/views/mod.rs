//! The JSON answers of the review API, built from a [`ReviewRun`](crate::ReviewRun):
//! the run's overview, pages of sample cards (sorted and filtered), one sample with
//! its history, the data map, and the answer to a decision.

mod card;
mod datamap;
mod decision;
mod overview;
mod query;
mod sample;

pub use card::{Card, DecisionView, LabelView};
pub use datamap::DataMap;
pub use decision::{decide, DecisionAnswer, DecisionRequest};
pub use overview::Overview;
pub use query::{page, Page, PageQuery, SortKey};
pub(crate) use sample::check_index;
pub use sample::{History, SampleView, Series};
