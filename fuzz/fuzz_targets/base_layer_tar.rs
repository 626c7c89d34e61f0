//! The bounded tar reader of registry base layers, and the listing of a base's files (whiteouts
//! applied) over it: any bytes give entries or an error, never a panic, a hang or memory beyond
//! the reader's bounds; a path the listing holds resolves without looping.
#![no_main]

use cargo_imagebuild::internals::untar::{BaseFiles, TarReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = TarReader::new(data);
    let mut paths = Vec::new();
    // Bounded: every entry consumes at least one 512-byte block of the input.
    for _ in 0..=data.len() / 512 {
        match reader.next_entry() {
            Ok(Some(e)) => {
                let _ = reader.read_contents(64);
                paths.push(e.path);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let mut files = BaseFiles::new();
    if files.add_tar(data).is_ok() {
        for p in paths.iter().take(64) {
            let _ = files.has_file(&format!("/{p}"));
        }
        let _ = files.ld_so_conf_dirs();
    }
});
