//! Signing keys for the tests, made by tools that are not ours: an ECDSA P-256 key pair by
//! openssl, and cosign's encrypted `cosign.key` by Debian's Python (PyNaCl's secretbox and
//! hashlib's scrypt) from the format's documentation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{require, run_ok};

/// An ECDSA P-256 key pair made by openssl in `dir`: (private PKCS#8 PEM, public PEM).
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let openssl = require("openssl");
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    run_ok(
        Command::new(&openssl)
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()]),
    );
    run_ok(Command::new(&openssl).args([
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]));
    (key, public)
}

/// cosign's encrypted key (`cosign.key`) at `out` for the openssl-made P-256 key `pem`,
/// written from the format's documentation with Debian's Python, PyNaCl and hashlib (no code
/// of ours): the PKCS#8 DER sealed by NaCl's secretbox under scrypt(password) (N=2^16, r=8,
/// p=1, a random 32-byte salt and 24-byte nonce), as go-securesystemslib's `encrypted` JSON,
/// in a PEM block labelled `label`.
pub fn cosign_key(pem: &Path, out: &Path, password: &str, label: &str) {
    let der = out.with_extension("der");
    run_ok(Command::new(require("openssl")).args([
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-outform",
        "DER",
        "-in",
        pem.to_str().unwrap(),
        "-out",
        der.to_str().unwrap(),
    ]));
    let script = r#"
import base64, hashlib, json, os, sys, textwrap
import nacl.secret
der, out, label = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
password = os.environ["PASSWORD"].encode()
salt, nonce = os.urandom(32), os.urandom(24)
key = hashlib.scrypt(password, salt=salt, n=65536, r=8, p=1, dklen=32, maxmem=256 << 20)
sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
b64 = lambda b: base64.b64encode(b).decode()
body = json.dumps({
    "kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": b64(salt)},
    "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
    "ciphertext": b64(sealed),
}, separators=(",", ":")).encode()
with open(out, "w") as f:
    f.write("-----BEGIN %s-----\n%s\n-----END %s-----\n"
            % (label, "\n".join(textwrap.wrap(b64(body), 64)), label))
"#;
    // Debian's python3 (with python3-nacl), not whatever `python3` comes first on PATH.
    run_ok(
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&der)
            .arg(out)
            .arg(label)
            .env("PASSWORD", password),
    );
    std::fs::remove_file(&der).unwrap();
}
