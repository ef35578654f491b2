//! Digests of bytes: the SHA-256 that names inputs in output markers and sweep states, and
//! the short host hash in temporary names.

use sha2::{Digest, Sha256};

/// The SHA-256 of some bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
