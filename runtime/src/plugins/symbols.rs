//! The names a shared library exports, read from its ELF dynamic symbol table: how the
//! host names the ABI of a library that has no descriptor symbol it can read (one built
//! for ABI 3 exports `memscope_plugin_v3`, a future fixed-layout one could export
//! `memscope_plugin_v10`), whatever the number. Only read when loading already failed,
//! so a file that is not a 64-bit little-endian ELF simply has no names.

use std::path::Path;

/// Every defined symbol of the dynamic symbol table of the ELF file `path` whose name
/// starts with `prefix`, in table order; empty when the file cannot be read as a 64-bit
/// little-endian ELF.
pub fn exported_with_prefix(path: &Path, prefix: &str) -> Vec<String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| dynamic_symbols(&bytes))
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect()
}

/// `len` bytes at `at`, if the file has them.
fn bytes(data: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(at).ok()?;
    data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
}

fn u16_at(data: &[u8], at: u64) -> Option<u16> {
    Some(u16::from_le_bytes(bytes(data, at, 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: u64) -> Option<u32> {
    Some(u32::from_le_bytes(bytes(data, at, 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: u64) -> Option<u64> {
    Some(u64::from_le_bytes(bytes(data, at, 8)?.try_into().ok()?))
}

/// The names of the defined symbols of the `.dynsym` section (ELF64, little-endian).
fn dynamic_symbols(data: &[u8]) -> Option<Vec<String>> {
    const SHT_DYNSYM: u32 = 11;
    // e_ident: magic, ELFCLASS64 (2), ELFDATA2LSB (1).
    if bytes(data, 0, 6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (section_headers, header_size, sections) = (u64_at(data, 0x28)?, u64::from(u16_at(data, 0x3a)?), u64::from(u16_at(data, 0x3c)?));
    let section = |i: u64| section_headers.checked_add(i.checked_mul(header_size)?);
    for i in 0..sections {
        let header = section(i)?;
        if u32_at(data, header + 4)? != SHT_DYNSYM {
            continue;
        }
        let (offset, size, entry) = (u64_at(data, header + 0x18)?, u64_at(data, header + 0x20)?, u64_at(data, header + 0x38)?);
        let strings_header = section(u64::from(u32_at(data, header + 0x28)?))?;
        let (strings_offset, strings_size) = (u64_at(data, strings_header + 0x18)?, u64_at(data, strings_header + 0x20)?);
        let strings = bytes(data, strings_offset, strings_size)?;
        if entry < 24 {
            return None;
        }
        let mut names = Vec::new();
        for symbol in (0..size / entry).map(|k| offset + k * entry) {
            // st_name (u32) at 0, st_shndx (u16) at 6: 0 is an undefined (imported) symbol.
            let (name, defined) = (u32_at(data, symbol)? as usize, u16_at(data, symbol + 6)? != 0);
            let Some(tail) = strings.get(name..) else { continue };
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            if defined && end > 0 {
                names.push(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
        }
        return Some(names);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exports_of_a_real_library_are_read_and_other_files_have_none() {
        // libm exports `cos`, and imports nothing named like it.
        let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            .expect("libm");
        assert!(exported_with_prefix(libm, "cos").iter().any(|s| s == "cos"), "{:?}", exported_with_prefix(libm, "cos"));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("lib.so");
        std::fs::write(&text, b"\x7fELF\x02\x01 but nothing after").unwrap();
        assert!(exported_with_prefix(&text, "").is_empty());
        assert!(exported_with_prefix(&dir.path().join("missing.so"), "").is_empty());
    }
}
