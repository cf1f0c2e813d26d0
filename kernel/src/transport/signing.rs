//! HMAC-SHA256 signatures over the four JSON frames of a message.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct Signer {
    /// None means the connection has an empty key: messages are not signed.
    key: Option<Vec<u8>>,
}

impl Signer {
    pub fn new(key: &str) -> Self {
        Self { key: if key.is_empty() { None } else { Some(key.as_bytes().to_vec()) } }
    }

    fn mac(&self, parts: &[&[u8]]) -> Option<HmacSha256> {
        let key = self.key.as_ref()?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        for part in parts {
            mac.update(part);
        }
        Some(mac)
    }

    /// The hex signature of header, parent header, metadata and content ("" without a key).
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        match self.mac(parts) {
            Some(mac) => hex::encode(mac.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// Checks a signature in constant time.
    pub fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(mac) => match hex::decode(signature) {
                Ok(raw) => mac.verify_slice(&raw).is_ok(),
                Err(_) => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let signer = Signer::new("secret");
        let parts: [&[u8]; 4] = [b"{}", b"{}", b"{}", b"{\"a\":1}"];
        let sig = signer.sign(&parts);
        assert_eq!(sig.len(), 64);
        assert!(signer.verify(sig.as_bytes(), &parts));
        assert!(!signer.verify(b"00", &parts));
        assert!(!signer.verify(sig.as_bytes(), &[b"{}", b"{}", b"{}", b"{\"a\":2}"]));
        assert!(!signer.verify(b"not hex", &parts));
    }

    #[test]
    fn empty_key_means_unsigned() {
        let signer = Signer::new("");
        assert_eq!(signer.sign(&[b"x"]), "");
        assert!(signer.verify(b"", &[b"x"]));
    }
}
