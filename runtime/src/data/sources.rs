//! Where each sample came from, so that a person can open the image and fix its label:
//! a file path (image folders, CSV manifests), or a file and a record or row
//! (`train-images-idx3-ubyte#123`, `data_batch_2.bin#17`, `train-0.parquet#4`,
//! `digits.csv#123`; records and rows count from 0).

use std::borrow::Cow;

/// The source of every sample, in sample order.
#[derive(Debug, Clone, PartialEq)]
pub enum Sources {
    /// Consecutive records of files: `(file, records)` in order; sample `i` is record
    /// `i - (records of the files before)` of its file. Costs nothing per sample.
    Records(Vec<(String, usize)>),
    /// One name per sample.
    List(Vec<String>),
}

impl Sources {
    /// All `count` records of one file.
    pub fn records(file: impl Into<String>, count: usize) -> Self {
        Sources::Records(vec![(file.into(), count)])
    }

    /// Number of samples named.
    pub fn len(&self) -> usize {
        match self {
            Sources::Records(files) => files.iter().map(|(_, n)| n).sum(),
            Sources::List(names) => names.len(),
        }
    }

    /// Whether no sample is named.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source of sample `i`.
    pub fn get(&self, i: usize) -> Cow<'_, str> {
        match self {
            Sources::Records(files) => {
                let mut first = 0;
                for (file, count) in files {
                    if i < first + count {
                        return Cow::Owned(format!("{file}#{}", i - first));
                    }
                    first += count;
                }
                panic!("sample {i} of {first}")
            }
            Sources::List(names) => Cow::Borrowed(&names[i]),
        }
    }

    /// Keeps the first `n`.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Sources::Records(files) => {
                let mut left = n;
                for (_, count) in files.iter_mut() {
                    *count = (*count).min(left);
                    left -= *count;
                }
                files.retain(|(_, count)| *count > 0);
            }
            Sources::List(names) => names.truncate(n),
        }
    }

    /// The sources of `samples` (indices into these, in the order given).
    pub fn select(&self, samples: &[usize]) -> Self {
        Sources::List(samples.iter().map(|&i| self.get(i).into_owned()).collect())
    }

    /// Every source, in order.
    pub fn to_vec(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.get(i).into_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_from_zero_in_each_file_and_truncate() {
        let mut s = Sources::Records(vec![("a.bin".into(), 2), ("b.bin".into(), 3)]);
        assert_eq!(s.len(), 5);
        assert_eq!(s.get(1), "a.bin#1");
        assert_eq!(s.get(2), "b.bin#0");
        assert_eq!(s.get(4), "b.bin#2");
        s.truncate(3);
        assert_eq!(s.to_vec(), ["a.bin#0", "a.bin#1", "b.bin#0"]);
    }
}
