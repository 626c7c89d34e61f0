//! Reading the entries of a layer tar that came from somewhere else (a registry base), with
//! bounds: [`TarReader`] walks the 512-byte headers itself and hands out one [`TarEntry`] (path,
//! kind, link target, size) at a time, skipping file contents unless asked for a bounded prefix.
//!
//! Why not the `tar` crate's reader: it reads a GNU long-name or long-link entry, and a PAX
//! extended header, into memory whole, whatever size the header claims, so a layer of half a
//! megabyte of gzip can claim a 512 MiB name and take gigabytes of memory. Here such a header is
//! refused before a byte of it is read when it is larger than [`MAX_LONG_NAME`] (GNU `L`/`K`) or
//! [`MAX_PAX`] (PAX `x`/`g`), with a typed [`TarError`] the caller names the layer in.
//!
//! What is understood: ustar (with its `prefix`), GNU (long names and links, base-256 sizes,
//! old-style sparse extension blocks), PAX `path`, `linkpath` and `size`. Checksums are checked;
//! the archive ends at the first all-zero block or at the end of the stream between entries.

use std::io::{self, Read};

/// The longest GNU long name or long link target read (64 KiB; Linux's `PATH_MAX` is 4 KiB).
pub const MAX_LONG_NAME: u64 = 64 * 1024;
/// The largest PAX extended header read (1 MiB).
pub const MAX_PAX: u64 = 1024 * 1024;
/// The most old-style GNU sparse extension blocks after one header.
const MAX_SPARSE_BLOCKS: usize = 2048;

const BLOCK: usize = 512;

/// Why a layer tar could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// An extension header claims more bytes than allowed.
    #[error(
        "it holds a {what} of {size} bytes, more than the {limit} bytes allowed: the layer is \
         damaged or made to exhaust memory"
    )]
    TooLarge {
        /// Which header (`GNU long name`, `PAX extended header`, ...).
        what: &'static str,
        /// What it claims.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The bytes are not a tar archive (bad checksum, a number that is not one, a cut header).
    #[error("it is not a well-formed tar archive: {0}")]
    Malformed(String),
    /// Reading (or decompressing) the stream failed.
    #[error("reading it failed: {0}")]
    Io(#[from] io::Error),
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TarKind {
    /// A regular file (also a contiguous or sparse one).
    File,
    /// A hard link to an earlier entry (its target in `link`).
    HardLink,
    /// A symbolic link (its target in `link`).
    Symlink,
    /// A directory.
    Dir,
    /// A device, FIFO or another type this reader does not tell apart.
    Other,
}

/// One entry of the archive, its extension headers applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarEntry {
    /// The path as stored (lossily made UTF-8), trailing `/` kept for directories that have one.
    pub path: String,
    /// What it is.
    pub kind: TarKind,
    /// A link's target (empty for other kinds).
    pub link: String,
    /// The size of its contents in the archive.
    pub size: u64,
}

/// The entries of a tar stream, one at a time (see the module docs).
pub struct TarReader<R> {
    inner: R,
    /// Bytes of the current entry's contents not read yet.
    left: u64,
    /// Padding after the current entry's contents.
    pad: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    /// Reads the tar stream `inner` (already decompressed).
    pub fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            left: 0,
            pad: 0,
            done: false,
        }
    }

    /// The next entry, or `None` at the end of the archive. Whatever was not read of the
    /// previous entry's contents is skipped.
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = Pax::default();
        loop {
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                self.done = true;
                return Ok(None);
            }
            if block == [0u8; BLOCK] {
                self.done = true;
                return Ok(None);
            }
            check_sum(&block)?;
            let size = number(&block[124..136], "size")?;
            let kind = block[156];
            self.start(size);
            match kind {
                b'L' | b'K' => {
                    let what = if kind == b'L' {
                        "GNU long name"
                    } else {
                        "GNU long link"
                    };
                    let bytes = self.read_extension(size, MAX_LONG_NAME, what)?;
                    let bytes = until_nul(&bytes).to_vec();
                    if kind == b'L' {
                        long_name = Some(bytes);
                    } else {
                        long_link = Some(bytes);
                    }
                    continue;
                }
                b'x' => {
                    let bytes = self.read_extension(size, MAX_PAX, "PAX extended header")?;
                    pax.parse(&bytes)?;
                    continue;
                }
                b'g' => {
                    // Global headers set defaults this reader does not need.
                    self.read_extension(size, MAX_PAX, "PAX global header")?;
                    continue;
                }
                _ => {}
            }
            if kind == b'S' && block[482] != 0 {
                self.skip_sparse_blocks()?;
            }
            let ustar = &block[257..263] == b"ustar\0";
            let name = match (pax.path.take(), long_name.take()) {
                (Some(p), _) => p,
                (None, Some(l)) => l,
                (None, None) => {
                    let name = until_nul(&block[0..100]);
                    let prefix = until_nul(&block[345..500]);
                    if ustar && !prefix.is_empty() {
                        [prefix, b"/", name].concat()
                    } else {
                        name.to_vec()
                    }
                }
            };
            let link = match (pax.linkpath.take(), long_link.take()) {
                (Some(p), _) => p,
                (None, Some(l)) => l,
                (None, None) => until_nul(&block[157..257]).to_vec(),
            };
            let size = pax.size.take().unwrap_or(size);
            self.start(size);
            let kind = match kind {
                b'0' | 0 | b'7' | b'S' => TarKind::File,
                b'1' => TarKind::HardLink,
                b'2' => TarKind::Symlink,
                b'5' => TarKind::Dir,
                _ => TarKind::Other,
            };
            let link = match kind {
                TarKind::HardLink | TarKind::Symlink => String::from_utf8_lossy(&link).into_owned(),
                _ => String::new(),
            };
            return Ok(Some(TarEntry {
                path: String::from_utf8(name)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                kind,
                link,
                size,
            }));
        }
    }

    /// At most `max` bytes of the current entry's contents (fewer when it is shorter).
    pub fn read_contents(&mut self, max: u64) -> Result<Vec<u8>, TarError> {
        let n = self.left.min(max);
        let mut out = Vec::new();
        (&mut self.inner).take(n).read_to_end(&mut out)?;
        if (out.len() as u64) < n {
            return Err(cut());
        }
        self.left -= n;
        Ok(out)
    }

    /// Marks the start of contents of `size` bytes (padded to a whole block).
    fn start(&mut self, size: u64) {
        self.left = size;
        self.pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    }

    /// Reads an extension header's contents, refusing one larger than `limit` unread.
    fn read_extension(
        &mut self,
        size: u64,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, TarError> {
        if size > limit {
            return Err(TarError::TooLarge { what, size, limit });
        }
        let bytes = self.read_contents(size)?;
        self.skip_rest()?;
        Ok(bytes)
    }

    /// Skips old-style GNU sparse extension blocks (each says in byte 504 whether another follows).
    fn skip_sparse_blocks(&mut self) -> Result<(), TarError> {
        for _ in 0..MAX_SPARSE_BLOCKS {
            let mut ext = [0u8; BLOCK];
            if !self.read_block(&mut ext)? {
                return Err(cut());
            }
            if ext[504] == 0 {
                return Ok(());
            }
        }
        Err(TarError::TooLarge {
            what: "run of GNU sparse extension blocks",
            size: MAX_SPARSE_BLOCKS as u64 + 1,
            limit: MAX_SPARSE_BLOCKS as u64,
        })
    }

    /// Skips what is left of the current entry's contents and its padding.
    fn skip_rest(&mut self) -> Result<(), TarError> {
        let n = self.left + self.pad;
        if n == 0 {
            return Ok(());
        }
        let skipped = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if skipped < n {
            return Err(cut());
        }
        self.left = 0;
        self.pad = 0;
        Ok(())
    }

    /// Fills `block`: `false` at the end of the stream before its first byte.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, TarError> {
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut block[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(cut()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

fn cut() -> TarError {
    TarError::Malformed("it ends in the middle of an entry".into())
}

/// The PAX records that matter here, applied to the next entry.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
}

impl Pax {
    /// Parses `LEN key=value\n` records (LEN counting the whole record).
    fn parse(&mut self, mut bytes: &[u8]) -> Result<(), TarError> {
        let bad = |why: &str| TarError::Malformed(format!("a PAX extended header {why}"));
        while !bytes.is_empty() {
            if bytes.iter().all(|b| *b == 0) {
                break;
            }
            let space = bytes
                .iter()
                .position(|b| *b == b' ')
                .ok_or_else(|| bad("has a record without a length"))?;
            let len: usize = std::str::from_utf8(&bytes[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("has a record length that is not a number"))?;
            if len <= space + 1 || len > bytes.len() || bytes[len - 1] != b'\n' {
                return Err(bad("has a record whose length is wrong"));
            }
            let record = &bytes[space + 1..len - 1];
            bytes = &bytes[len..];
            let Some(eq) = record.iter().position(|b| *b == b'=') else {
                return Err(bad("has a record without `=`"));
            };
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => self.path = Some(value.to_vec()),
                b"linkpath" => self.linkpath = Some(value.to_vec()),
                b"size" => {
                    self.size = Some(
                        std::str::from_utf8(value)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| bad("has a size that is not a number"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The bytes before the first NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|b| *b == 0) {
        Some(i) => &bytes[..i],
        None => bytes,
    }
}

/// A numeric header field: octal (space or NUL padded), or GNU base-256 (high bit set).
fn number(field: &[u8], what: &str) -> Result<u64, TarError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return Err(TarError::Malformed(format!(
                "a header's {what} is negative"
            )));
        }
        let mut n: u64 = u64::from(field[0] & 0x3f);
        for b in &field[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(*b)))
                .ok_or_else(|| TarError::Malformed(format!("a header's {what} is too large")))?;
        }
        return Ok(n);
    }
    let text = until_nul(field);
    let text = std::str::from_utf8(text)
        .map_err(|_| TarError::Malformed(format!("a header's {what} is not a number")))?
        .trim_matches(|c| c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8)
        .map_err(|_| TarError::Malformed(format!("a header's {what} `{text}` is not octal")))
}

/// Checks a header's checksum (the sum of its bytes, the checksum field counted as spaces;
/// some old tars summed them as signed bytes). Summed eight bytes at a time: this runs once per
/// entry of every base layer listed.
fn check_sum(block: &[u8; BLOCK]) -> Result<(), TarError> {
    let want = number(&block[148..156], "checksum")?;
    let (mut sum, mut high) = (0u64, 0u64);
    for chunk in block.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Pairs of bytes into four 16-bit lanes, then the lanes added by one multiplication.
        let pairs = (x & 0x00ff_00ff_00ff_00ff) + ((x >> 8) & 0x00ff_00ff_00ff_00ff);
        sum += pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48;
        high += u64::from((x & 0x8080_8080_8080_8080).count_ones());
    }
    // The checksum field counts as eight spaces.
    for b in &block[148..156] {
        sum = sum - u64::from(*b) + u64::from(b' ');
        high -= u64::from(*b >> 7);
    }
    // As signed bytes, each byte of 128 or more counts 256 less.
    let signed = sum as i64 - 256 * high as i64;
    if want == sum || i64::try_from(want).is_ok_and(|w| w == signed) {
        Ok(())
    } else {
        Err(TarError::Malformed(
            "a header's checksum does not match its bytes".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Result<Vec<TarEntry>, TarError> {
        let mut r = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    #[test]
    fn reads_what_the_tar_crate_writes_long_names_and_links_included() {
        let long = format!("opt/{}/file", "d".repeat(300));
        let target = format!("/{}", "t".repeat(200));
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(
            &mut header("etc/", tar::EntryType::Directory, 0),
            "etc/",
            &[][..],
        )
        .unwrap();
        b.append_data(
            &mut header("x", tar::EntryType::Regular, 5),
            "etc/hosts",
            &b"hello"[..],
        )
        .unwrap();
        b.append_data(
            &mut header("x", tar::EntryType::Regular, 3),
            &long,
            &b"abc"[..],
        )
        .unwrap();
        let mut h = header("x", tar::EntryType::Symlink, 0);
        b.append_link(&mut h, "lib/ld", &target).unwrap();
        let bytes = b.into_inner().unwrap();
        let got = all(&bytes).unwrap();
        let kinds: Vec<(&str, TarKind, &str, u64)> = got
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.link.as_str(), e.size))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("etc/", TarKind::Dir, "", 0),
                ("etc/hosts", TarKind::File, "", 5),
                (long.as_str(), TarKind::File, "", 3),
                ("lib/ld", TarKind::Symlink, target.as_str(), 0),
            ]
        );
        let mut r = TarReader::new(&bytes[..]);
        r.next_entry().unwrap();
        r.next_entry().unwrap();
        assert_eq!(r.read_contents(100).unwrap(), b"hello");
        assert_eq!(r.next_entry().unwrap().unwrap().path, long);
    }

    #[test]
    fn pax_path_and_ustar_prefix_are_applied() {
        let mut pax = tar::Builder::new(Vec::new());
        let record = |k: &str, v: &str| {
            let body = format!(" {k}={v}\n");
            let mut n = body.len();
            while body.len() + n.to_string().len() != n {
                n = body.len() + n.to_string().len();
            }
            format!("{n}{body}")
        };
        let body = record("path", "very/long/pax/name");
        assert_eq!(
            body.len(),
            body.split(' ').next().unwrap().parse::<usize>().unwrap()
        );
        pax.append_data(
            &mut header("pax", tar::EntryType::XHeader, body.len() as u64),
            "pax",
            body.as_bytes(),
        )
        .unwrap();
        pax.append_data(
            &mut header("short", tar::EntryType::Regular, 0),
            "short",
            &[][..],
        )
        .unwrap();
        let mut ustar = tar::Header::new_ustar();
        let long = format!("{}/{}", "p".repeat(120), "n".repeat(50));
        ustar.set_path(&long).unwrap();
        ustar.set_size(0);
        ustar.set_entry_type(tar::EntryType::Regular);
        ustar.set_cksum();
        pax.append(&ustar, &[][..]).unwrap();
        let got = all(&pax.into_inner().unwrap()).unwrap();
        assert_eq!(got[0].path, "very/long/pax/name");
        assert_eq!(got[1].path, long);
    }

    /// A header claiming a huge GNU long name (or PAX header) is refused without reading it:
    /// the stream holds only the header, so reading it would fail differently.
    #[test]
    fn huge_extension_headers_are_refused_unread() {
        for (kind, limit) in [
            (tar::EntryType::GNULongName, MAX_LONG_NAME),
            (tar::EntryType::GNULongLink, MAX_LONG_NAME),
            (tar::EntryType::XHeader, MAX_PAX),
            (tar::EntryType::XGlobalHeader, MAX_PAX),
        ] {
            let h = header("././@LongLink", kind, 512 << 20);
            let err = all(h.as_bytes()).unwrap_err();
            match err {
                TarError::TooLarge { size, limit: l, .. } => {
                    assert_eq!((size, l), (512 << 20, limit));
                }
                other => panic!("{kind:?}: {other}"),
            }
        }
        // At the limit it is read.
        let name = "n".repeat(1000);
        let mut bytes = header("././@LongLink", tar::EntryType::GNULongName, 1001)
            .as_bytes()
            .to_vec();
        bytes.extend_from_slice(name.as_bytes());
        bytes.resize(bytes.len() + 1024 - 1000, 0);
        bytes.extend_from_slice(header("x", tar::EntryType::Regular, 0).as_bytes());
        assert_eq!(all(&bytes).unwrap()[0].path, name);
    }

    #[test]
    fn damaged_tars_are_errors_not_panics() {
        let mut h = header("a", tar::EntryType::Regular, 10).as_bytes().to_vec();
        h[0] = b'b';
        assert!(matches!(all(&h), Err(TarError::Malformed(_))));
        let cut = header("a", tar::EntryType::Regular, 10).as_bytes()[..100].to_vec();
        assert!(matches!(all(&cut), Err(TarError::Malformed(_))));
        let short = header("a", tar::EntryType::Regular, 10).as_bytes().to_vec();
        assert!(matches!(all(&short), Err(TarError::Malformed(_))));
        assert!(all(&[]).unwrap().is_empty());
        assert!(all(&[0u8; 1024]).unwrap().is_empty());
        let mut p = Pax::default();
        for bad in [&b"x"[..], b"99 path=a\n", b"3 a\n", b"5 a=b\n", b"0 =\n"] {
            assert!(p.parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums_match_the_plain_sum() {
        let mut block = [0u8; BLOCK];
        for (i, b) in block.iter_mut().enumerate() {
            *b = if i % 100 == 7 { 200 } else { (i % 100) as u8 };
        }
        let plain: u64 = block
            .iter()
            .enumerate()
            .map(|(i, b)| u64::from(if (148..156).contains(&i) { b' ' } else { *b }))
            .sum();
        let signed: i64 = block
            .iter()
            .enumerate()
            .map(|(i, b)| {
                i64::from(if (148..156).contains(&i) {
                    b' ' as i8
                } else {
                    *b as i8
                })
            })
            .sum();
        assert!(signed > 0 && signed != plain as i64);
        for (want, ok) in [
            (plain as i64, true),
            (signed, true),
            (plain as i64 + 1, false),
        ] {
            let field = format!("{want:06o}\0 ");
            block[148..156].copy_from_slice(field.as_bytes());
            assert_eq!(check_sum(&block).is_ok(), ok, "{want}");
        }
    }

    #[test]
    fn base256_sizes_are_read() {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 5;
        f[10] = 1;
        assert_eq!(number(&f, "size").unwrap(), 261);
        assert_eq!(number(b"0000644 \0", "mode").unwrap(), 0o644);
        assert!(number(b"9", "x").is_err());
    }
}
