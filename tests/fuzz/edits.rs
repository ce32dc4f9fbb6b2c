//! Random edits of a valid input: the mutations that find parser bugs (a byte changed,
//! added or removed, the file cut short, a header word set to an extreme value).

use proptest::prelude::*;
use proptest::sample::Index;

/// One edit at a position chosen relative to the input's length.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Overwrite a byte.
    Set(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Remove a byte.
    Remove(Index),
    /// Cut the input there.
    Truncate(Index),
    /// Write a 32-bit value there (big- or little-endian): sizes and counts.
    Word(Index, u32, bool),
}

/// Up to `max` edits.
pub fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    let word =
        prop_oneof![Just(0u32), Just(1), Just(0xFF), Just(0xFFFF), Just(0x7FFF_FFFF), Just(0xFFFF_FFFF), Just(1 << 20), any::<u32>()];
    let edit = prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => any::<Index>().prop_map(Edit::Remove),
        1 => any::<Index>().prop_map(Edit::Truncate),
        3 => (any::<Index>(), word, any::<bool>()).prop_map(|(i, w, be)| Edit::Word(i, w, be)),
    ];
    prop::collection::vec(edit, 0..=max)
}

/// `input` with `edits` applied in order.
pub fn apply(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for edit in edits {
        let at = |i: &Index, extra: usize| i.index(bytes.len() + extra);
        match edit {
            Edit::Set(i, b) if !bytes.is_empty() => {
                let k = at(i, 0);
                bytes[k] = *b;
            }
            Edit::Insert(i, b) => {
                let k = at(i, 1);
                bytes.insert(k, *b);
            }
            Edit::Remove(i) if !bytes.is_empty() => {
                let k = at(i, 0);
                bytes.remove(k);
            }
            Edit::Truncate(i) => {
                let k = at(i, 1);
                bytes.truncate(k);
            }
            Edit::Word(i, w, big) if bytes.len() >= 4 => {
                let k = at(i, 0).min(bytes.len() - 4);
                let word = if *big { w.to_be_bytes() } else { w.to_le_bytes() };
                bytes[k..k + 4].copy_from_slice(&word);
            }
            _ => {}
        }
    }
    bytes
}
