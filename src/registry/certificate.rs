//! What the trust messages say about a certificate, read from its DER: the subject and issuer
//! names (`CN=…, O=…`, in the certificate's order), whether it is a CA (basicConstraints), and
//! its validity window. [`Summary::read`] walks RFC 5280's `Certificate` → `TBSCertificate`
//! with a reader of the few DER shapes it needs (tag, definite length, contents); it checks no
//! signature — rustls and webpki do that — and a certificate it cannot read is `None`.
//! A general ASN.1 library (x509-parser and its nom, bigint and time stack) cost more to
//! compile than the rest of certificate handling together (BENCHMARKS.md, "Install time").

use std::fmt::Write as _;

/// The parts of a certificate that `trust.rs` names in a refusal or checks for a pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The subject's distinguished name, `CN=…, O=…`.
    pub subject: String,
    /// The issuer's distinguished name, in the same form.
    pub issuer: String,
    /// basicConstraints says `CA:TRUE`.
    pub is_ca: bool,
    /// notBefore, in seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl Summary {
    /// Reads `der`, a DER-encoded X.509 certificate.
    pub fn read(der: &[u8]) -> Option<Summary> {
        let (cert, rest) = Tlv::read(der)?;
        if cert.tag != SEQUENCE || !rest.is_empty() {
            return None;
        }
        let (tbs, _) = Tlv::read(cert.body)?;
        if tbs.tag != SEQUENCE {
            return None;
        }
        let mut fields = Items(tbs.body);
        let mut next = fields.next()?;
        if next.tag == 0xa0 {
            // [0] EXPLICIT version
            next = fields.next()?;
        }
        let _serial = next;
        let _signature = fields.next()?;
        let issuer = name(fields.next()?)?;
        let validity = fields.next()?;
        let subject = name(fields.next()?)?;
        let _spki = fields.next()?;
        let mut times = Items(validity.body);
        let not_before = time(times.next()?)?;
        let not_after = time(times.next()?)?;
        let mut is_ca = false;
        for field in fields {
            // [3] EXPLICIT Extensions
            if field.tag == 0xa3 {
                let (exts, _) = Tlv::read(field.body)?;
                for ext in Items(exts.body) {
                    is_ca |= basic_constraints_ca(ext).unwrap_or(false);
                }
            }
        }
        Some(Summary {
            subject,
            issuer,
            is_ca,
            not_before,
            not_after,
        })
    }

    /// Whether `now` (seconds since the epoch) is within notBefore..=notAfter.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag (one byte: X.509 uses no high tag numbers) and contents.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The element at the start of `input`, and what follows it.
    fn read(input: &'a [u8]) -> Option<(Tlv<'a>, &'a [u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (body, rest) = rest.split_at(len);
        Some((Tlv { tag, body }, rest))
    }
}

/// The elements of a SEQUENCE's or SET's contents, in order; stops at the first unreadable one.
struct Items<'a>(&'a [u8]);

impl<'a> Iterator for Items<'a> {
    type Item = Tlv<'a>;
    fn next(&mut self) -> Option<Tlv<'a>> {
        let (item, rest) = Tlv::read(self.0)?;
        self.0 = rest;
        Some(item)
    }
}

/// An OBJECT IDENTIFIER's dotted form.
fn oid(body: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut value: u64 = 0;
    let mut first = true;
    for &b in body {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if first {
                let (a, b) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                let _ = write!(out, "{a}.{b}");
                first = false;
            } else {
                let _ = write!(out, ".{value}");
            }
            value = 0;
        }
    }
    (!first).then_some(out)
}

/// The name of a naming attribute, as x509-parser printed it before this module replaced it:
/// the usual abbreviations, else the attribute's name in RFC 4519 (an unknown one as its OID).
fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "Email",
        "2.5.4.4" => "surname",
        "2.5.4.5" => "serialNumber",
        "2.5.4.9" => "streetAddress",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "givenName",
        "2.5.4.43" => "initials",
        "2.5.4.46" => "dnQualifier",
        "0.9.2342.19200300.100.1.1" => "uid",
        _ => return None,
    })
}

/// A Name (SEQUENCE OF RDN, each a SET OF type-and-value) as `CN=a, O=b`; the values of one
/// multi-valued RDN are joined with ` + `.
fn name(seq: Tlv<'_>) -> Option<String> {
    if seq.tag != SEQUENCE {
        return None;
    }
    let mut rdns = Vec::new();
    for rdn in Items(seq.body) {
        if rdn.tag != SET {
            return None;
        }
        let mut parts = Vec::new();
        for atv in Items(rdn.body) {
            let mut it = Items(atv.body);
            let (kind, value) = (it.next()?, it.next()?);
            if kind.tag != OID {
                return None;
            }
            let dotted = oid(kind.body)?;
            let key = attribute_name(&dotted).map_or(dotted.clone(), str::to_string);
            parts.push(format!("{key}={}", text(value)));
        }
        rdns.push(parts.join(" + "));
    }
    Some(rdns.join(", "))
}

/// A directory string's text; a value of another type as upper-case hex of its contents.
fn text(v: Tlv<'_>) -> String {
    match v.tag {
        // ObjectDescriptor, UTF8String, NumericString, PrintableString, T61String,
        // VideotexString, IA5String, GraphicString, VisibleString, GeneralString
        0x07 | 0x0c | 0x12 | 0x13 | 0x14 | 0x15 | 0x16 | 0x19 | 0x1a | 0x1b => {
            String::from_utf8_lossy(v.body).into_owned()
        }
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = v
                .body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => v.body.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        }),
    }
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// seconds since the epoch.
fn time(t: Tlv<'_>) -> Option<i64> {
    let s = std::str::from_utf8(t.body).ok()?;
    let digits = s.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i64>().ok();
    let (year, rest) = match (t.tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = num(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let month = num(rest..rest + 2)?;
    let day = num(rest + 2..rest + 4)?;
    let hour = num(rest + 4..rest + 6)?;
    let minute = num(rest + 6..rest + 8)?;
    let second = num(rest + 8..rest + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Some(ca)` when `ext` is basicConstraints (2.5.29.19).
fn basic_constraints_ca(ext: Tlv<'_>) -> Option<bool> {
    let mut it = Items(ext.body);
    let id = it.next()?;
    if id.tag != OID || oid(id.body)? != "2.5.29.19" {
        return None;
    }
    let mut value = it.next()?;
    if value.tag == BOOLEAN {
        // critical
        value = it.next()?;
    }
    if value.tag != OCTET_STRING {
        return None;
    }
    let (constraints, _) = Tlv::read(value.body)?;
    let first = Items(constraints.body).next();
    Some(first.is_some_and(|b| b.tag == BOOLEAN && b.body.first().is_some_and(|&v| v != 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate: `openssl req -x509 -newkey ec -pkeyopt
    /// ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/C=DE/O=Acme/CN=imagebuild test CA"
    /// -addext basicConstraints=critical,CA:TRUE`.
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIByDCCAW2gAwIBAgIUWyLnRbuxjhAelSuTnKZGJcixU3UwCgYIKoZIzj0EAwIw\n\
OTELMAkGA1UEBhMCREUxDTALBgNVBAoMBEFjbWUxGzAZBgNVBAMMEmltYWdlYnVp\n\
bGQgdGVzdCBDQTAeFw0yNjEyMDMwNzUwNDFaFw0zNjExMzAwNzUwNDFaMDkxCzAJ\n\
BgNVBAYTAkRFMQ0wCwYDVQQKDARBY21lMRswGQYDVQQDDBJpbWFnZWJ1aWxkIHRl\n\
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASSuk07PMzxHTEd54tY8xch\n\
A070Uv798rKCxDk+HVlH9Bh4dYbvcTJBZuSXkOU6sWAydDeadGhLlant8hOSS/0C\n\
o1MwUTAdBgNVHQ4EFgQUPVtKTmekH+AgfJobVCKRvkiwfn4wHwYDVR0jBBgwFoAU\n\
PVtKTmekH+AgfJobVCKRvkiwfn4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD\n\
AgNJADBGAiEA0Xj4KsmRWGf4/5EX3o7B9Q8uS6IZFRfAMOwbbdVITZwCIQDZooTd\n\
OeZwb8/GGsy7PYdy8Ek24t1TURU3mVQLB6g5DA==\n\
-----END CERTIFICATE-----\n\
";

    /// A leaf it signed for 30 days (`-multivalue-rdn -subj "/O=Acme+OU=Registry/CN=registry.test/
    /// emailAddress=ops@acme.test/serialNumber=42"`, basicConstraints CA:FALSE).
    const LEAF_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIICBTCCAaugAwIBAgIUG/nkqvV5mEMQZaIPuP/VkA7ymEowCgYIKoZIzj0EAwIw\n\
OTELMAkGA1UEBhMCREUxDTALBgNVBAoMBEFjbWUxGzAZBgNVBAMMEmltYWdlYnVp\n\
bGQgdGVzdCBDQTAeFw0yNjEyMDMwNzUwNDlaFw0yNzAxMDIwNzUwNDlaMGMxHjAL\n\
BgNVBAoMBEFjbWUwDwYDVQQLDAhSZWdpc3RyeTEWMBQGA1UEAwwNcmVnaXN0cnku\n\
dGVzdDEcMBoGCSqGSIb3DQEJARYNb3BzQGFjbWUudGVzdDELMAkGA1UEBRMCNDIw\n\
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATGheosWXhBWf25iCAArHuhxq11YYW8\n\
YxmJIwZ0TC+bEuIgeQkV2Ao0R/UntH5LVdpqXj8W709EWSujXNqQNoNuo2cwZTAJ\n\
BgNVHRMEAjAAMBgGA1UdEQQRMA+CDXJlZ2lzdHJ5LnRlc3QwHQYDVR0OBBYEFO3Z\n\
Um74aoT/9AGVkkXyuEoffvOxMB8GA1UdIwQYMBaAFD1bSk5npB/gIHyaG1Qikb5I\n\
sH5+MAoGCCqGSM49BAMCA0gAMEUCIQCwyW68+HLwFqF7GGH+efro4XbfN8mIu41l\n\
rDh7v7V+iQIgcR1GWQUU35TYAs0nZBBhfxyc82b728nlxHpL3m6iNMM=\n\
-----END CERTIFICATE-----\n\
";

    fn der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    /// The expected values are what x509-parser 0.18 (which this module replaced) read from
    /// the same certificates.
    #[test]
    fn reads_names_ca_flag_and_validity_as_x509_parser_did() {
        let ca = Summary::read(&der(CA_PEM)).expect("readable");
        assert_eq!(
            ca,
            Summary {
                subject: "C=DE, O=Acme, CN=imagebuild test CA".into(),
                issuer: "C=DE, O=Acme, CN=imagebuild test CA".into(),
                is_ca: true,
                not_before: 1_796_284_241,
                not_after: 2_111_644_241,
            }
        );
        let leaf = Summary::read(&der(LEAF_PEM)).expect("readable");
        assert_eq!(
            leaf,
            Summary {
                subject:
                    "O=Acme + OU=Registry, CN=registry.test, Email=ops@acme.test, serialNumber=42"
                        .into(),
                issuer: "C=DE, O=Acme, CN=imagebuild test CA".into(),
                is_ca: false,
                not_before: 1_796_284_249,
                not_after: 1_798_876_249,
            }
        );
        assert!(leaf.valid_at(leaf.not_before) && leaf.valid_at(leaf.not_after));
        assert!(!leaf.valid_at(leaf.not_after + 1) && !leaf.valid_at(leaf.not_before - 1));
    }

    #[test]
    fn times_and_garbage() {
        let t = |tag, s: &str| {
            time(Tlv {
                tag,
                body: s.as_bytes(),
            })
        };
        assert_eq!(t(UTC_TIME, "700101000000Z"), Some(0));
        assert_eq!(t(UTC_TIME, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(t(GENERALIZED_TIME, "20000301000000Z"), Some(951_868_800));
        assert_eq!(t(UTC_TIME, "7001010000Z"), None);
        assert_eq!(t(UTC_TIME, "701301000000Z"), None);
        let bytes = der(CA_PEM);
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(Summary::read(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(Summary::read(b"not a certificate"), None);
    }
}
