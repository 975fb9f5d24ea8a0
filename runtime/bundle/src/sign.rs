//! Signatures: an ed25519 key signs a revision id (which fixes the manifest, which fixes every
//! chunk), and a host that trusts the key deploys only revisions it signed.
//!
//! - A secret key file holds `davit-ed25519-secret:<64 hex>` (mode 0600); its public key is
//!   written as `ed25519:<64 hex>`, the form host policies list.
//! - A signature lives in the store at `signatures/<revision>/<key id>` as JSON
//!   `{"key": "ed25519:…", "signature": "<128 hex>"}`, where the key id is the first 16 hex of the
//!   public key's blake3. The signed message is `davit-revision-v1\0` followed by the id's 64 hex
//!   digits.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

const SECRET_PREFIX: &str = "davit-ed25519-secret:";
const PUBLIC_PREFIX: &str = "ed25519:";
const DOMAIN: &[u8] = b"davit-revision-v1\0";

/// A key that signs revisions.
pub struct SecretKey(SigningKey);

/// A key a host trusts: `ed25519:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A key file or key text that is not one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file.
    #[error("key file `{path}`")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not the expected text.
    #[error("{0}")]
    Malformed(String),
}

impl SecretKey {
    /// A new random key.
    ///
    /// # Errors
    ///
    /// When the system has no randomness to give.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| KeyError::Malformed(format!("no randomness for a key: {e}")))?;
        Ok(SecretKey(SigningKey::from_bytes(&bytes)))
    }

    /// Writes the key to `path` (created, never overwritten, mode 0600).
    ///
    /// # Errors
    ///
    /// When the file exists or cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        writeln!(file, "{SECRET_PREFIX}{}", hex_of(&self.0.to_bytes())).map_err(io)
    }

    /// Reads a key written by [`SecretKey::save`].
    ///
    /// # Errors
    ///
    /// When the file cannot be read or holds no key.
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let hex = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            KeyError::Malformed(format!(
                "`{}` is not a davit secret key (`{SECRET_PREFIX}…`)",
                path.display()
            ))
        })?;
        let bytes = bytes32(hex).ok_or_else(|| {
            KeyError::Malformed(format!(
                "`{}`: the key is not 64 hex digits",
                path.display()
            ))
        })?;
        Ok(SecretKey(SigningKey::from_bytes(&bytes)))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature record for revision `id`.
    pub fn sign(&self, id: &Digest) -> SignatureRecord {
        let signature = self.0.sign(&message(id));
        SignatureRecord {
            key: self.public().to_string(),
            signature: hex_of(&signature.to_bytes()),
        }
    }
}

impl PublicKey {
    /// The name of its signature objects: 16 hex digits of the key's blake3.
    pub fn id(&self) -> String {
        blake3::hash(self.0.as_bytes()).to_hex()[..16].to_owned()
    }

    /// Whether `record` is this key's valid signature of revision `id`.
    pub fn verifies(&self, id: &Digest, record: &SignatureRecord) -> bool {
        let Ok(key) = record.key.parse::<PublicKey>() else {
            return false;
        };
        let Some(bytes) = bytes64(&record.signature) else {
            return false;
        };
        key == *self
            && self
                .0
                .verify_strict(&message(id), &Signature::from_bytes(&bytes))
                .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex_of(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<PublicKey, KeyError> {
        let bad =
            || KeyError::Malformed(format!("`{text}` is not a public key (`ed25519:<64 hex>`)"));
        let bytes = text
            .strip_prefix(PUBLIC_PREFIX)
            .and_then(bytes32)
            .ok_or_else(bad)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad())
    }
}

/// One signature of a revision, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    /// The signing key, `ed25519:<hex>`.
    pub key: String,
    /// The signature, 128 hex digits.
    pub signature: String,
}

fn message(id: &Digest) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&id.to_hex().into_bytes());
    m
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn bytes32(text: &str) -> Option<[u8; 32]> {
    unhex(text)
}

fn bytes64(text: &str) -> Option<[u8; 64]> {
    unhex(text)
}

/// Why no trusted key vouches for a revision: what each key's signature object was.
#[derive(Debug, thiserror::Error)]
#[error("revision {revision} is not signed by a trusted key: {}", .tried.join("; "))]
pub struct Unsigned {
    /// The revision.
    pub revision: Digest,
    /// Per trusted key: `KEY: no signature in the store` or `KEY: signature does not verify`.
    pub tried: Vec<String>,
}

/// Looks in `store` for a signature of revision `id` by each trusted key, and returns the first
/// key whose signature verifies.
///
/// # Errors
///
/// [`Unsigned`] naming what was found for every key, or a store failure.
pub async fn verify_signed(
    id: &Digest,
    store: &crate::Store,
    trusted: &[PublicKey],
) -> Result<Result<PublicKey, Unsigned>, crate::StoreError> {
    let mut tried = Vec::new();
    for key in trusted {
        let outcome = match store.get_signature(id, &key.id()).await? {
            None => "no signature in the store",
            Some(bytes) => match serde_json::from_slice::<SignatureRecord>(&bytes) {
                Ok(record) if key.verifies(id, &record) => return Ok(Ok(*key)),
                Ok(_) => "signature does not verify (wrong key, or the revision was changed)",
                Err(_) => "signature object is malformed",
            },
        };
        tried.push(format!("{key}: {outcome}"));
    }
    Ok(Err(Unsigned {
        revision: *id,
        tried,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_key_and_revision() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let id = Digest::of(b"manifest");
        let record = key.sign(&id);
        assert!(key.public().verifies(&id, &record));
        assert!(
            !key.public()
                .verifies(&Digest::of(b"other manifest"), &record)
        );
        assert!(!other.public().verifies(&id, &record));
        let mut forged = record.clone();
        forged.signature.replace_range(
            0..2,
            if &forged.signature[..2] == "00" {
                "01"
            } else {
                "00"
            },
        );
        assert!(!key.public().verifies(&id, &forged));
        let relabelled = SignatureRecord {
            key: other.public().to_string(),
            ..record
        };
        assert!(!other.public().verifies(&id, &relabelled));
    }

    #[test]
    fn keys_round_trip_through_files_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let path = dir.path().join("key");
        key.save(&path).unwrap();
        assert!(key.save(&path).is_err(), "never overwritten");
        let loaded = SecretKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
        let text = key.public().to_string();
        assert_eq!(text.parse::<PublicKey>().unwrap(), key.public());
        assert!("ed25519:zz".parse::<PublicKey>().is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
