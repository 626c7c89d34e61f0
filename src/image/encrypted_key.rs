//! cosign's own encrypted private key (`cosign.key`, what `cosign generate-key-pair` writes):
//! a PEM block labelled `ENCRYPTED SIGSTORE PRIVATE KEY` (older cosign: `ENCRYPTED COSIGN
//! PRIVATE KEY`) whose body is JSON in go-securesystemslib's `encrypted` format —
//! `{"kdf":{"name":"scrypt","params":{"N":…,"r":…,"p":…},"salt":B64},"cipher":{"name":
//! "nacl/secretbox","nonce":B64},"ciphertext":B64}` — the ciphertext being NaCl's secretbox
//! (XSalsa20-Poly1305, the tag first) of the key's PKCS#8 DER under the scrypt of the password
//! (32 bytes). As go-securesystemslib does, only its three scrypt parameter sets are taken
//! (N = 2^15, 2^16 or 2^17 with r = 8, p = 1), which also bounds the memory a key file can ask
//! for. Neither the password nor the key is part of any error.

use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The PEM labels of cosign's encrypted keys.
pub const LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// Why an encrypted key does not open.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not the JSON of the format, or a field of the wrong form.
    #[error("its body is not cosign's encrypted-key JSON ({0})")]
    Malformed(String),
    /// Another KDF, cipher or scrypt parameter set than cosign writes.
    #[error("it is encrypted with {0}, which cosign does not write")]
    Unsupported(String),
    /// The password does not open the box (or the file was changed).
    #[error("the password does not decrypt it")]
    WrongPassword,
}

#[derive(Deserialize)]
struct Data {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, Problem> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| Problem::Malformed(format!("`{what}` is not base64")))
}

/// The PKCS#8 DER inside `body` (the PEM block's decoded bytes), opened with `password`.
pub fn decrypt(body: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Problem> {
    let data: Data = serde_json::from_slice(body).map_err(|e| Problem::Malformed(e.to_string()))?;
    if data.kdf.name != "scrypt" {
        return Err(Problem::Unsupported(format!("the kdf `{}`", data.kdf.name)));
    }
    if data.cipher.name != "nacl/secretbox" {
        return Err(Problem::Unsupported(format!(
            "the cipher `{}`",
            data.cipher.name
        )));
    }
    let ScryptParams { n, r, p } = data.kdf.params;
    let log_n = match (n, r, p) {
        (32768, 8, 1) => 15,
        (65536, 8, 1) => 16,
        (131072, 8, 1) => 17,
        _ => {
            return Err(Problem::Unsupported(format!(
                "the scrypt parameters N={n}, r={r}, p={p}"
            )))
        }
    };
    let salt = b64("kdf.salt", &data.kdf.salt)?;
    let nonce = b64("cipher.nonce", &data.cipher.nonce)?;
    let ciphertext = b64("ciphertext", &data.ciphertext)?;
    if nonce.len() != 24 {
        return Err(Problem::Malformed("the nonce is not 24 bytes".into()));
    }
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| Problem::Unsupported(format!("the scrypt parameters N={n}, r={r}, p={p}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, key.as_mut())
        .map_err(|_| Problem::Malformed("scrypt refused the output length".into()))?;
    let cipher =
        crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_ref()));
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map(Zeroizing::new)
        .map_err(|_| Problem::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with PyNaCl's SecretBox and Python's hashlib.scrypt (N=2^15, r=8, p=1), as
    // go-securesystemslib would: the password `pw`, plaintext `hello cosign`.
    const BODY: &str = r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="},"cipher":{"name":"nacl/secretbox","nonce":"AgICAgICAgICAgICAgICAgICAgICAgIC"},"ciphertext":"CIPHERTEXT"}"#;

    #[test]
    fn opens_what_pynacl_sealed_and_refuses_a_wrong_password() {
        let body = BODY.replace("CIPHERTEXT", VECTOR);
        assert_eq!(
            decrypt(body.as_bytes(), b"pw").unwrap().as_slice(),
            b"hello cosign"
        );
        assert_eq!(
            decrypt(body.as_bytes(), b"other"),
            Err(Problem::WrongPassword)
        );
    }

    #[test]
    fn refuses_other_kdfs_ciphers_and_parameters() {
        let body = BODY.replace("CIPHERTEXT", VECTOR);
        for (from, to, says) in [
            ("\"scrypt\"", "\"argon2\"", "the kdf `argon2`"),
            ("nacl/secretbox", "aes-gcm", "the cipher `aes-gcm`"),
            ("\"N\":32768", "\"N\":1048576", "N=1048576"),
        ] {
            let e = decrypt(body.replace(from, to).as_bytes(), b"pw").unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        assert!(matches!(
            decrypt(b"not json", b"pw"),
            Err(Problem::Malformed(_))
        ));
    }

    const VECTOR: &str = "tQJhw9q5vlnY4bM8YLZ0MPIc+iKdiJNE07a70A==";
}
