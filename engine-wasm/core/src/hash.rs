//! A small, fast, portable 64-bit hasher for state hashes. Not cryptographic: it detects divergence, it does not
//! resist adversaries.

use bincode::enc::write::Writer;
use bincode::error::EncodeError;

const K: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Debug)]
pub struct StateHasher {
    state: u64,
    length: u64,
    pending: [u8; 8],
    pending_len: usize,
}

impl Default for StateHasher {
    fn default() -> Self {
        Self { state: 0x243f_6a88_85a3_08d3, length: 0, pending: [0; 8], pending_len: 0 }
    }
}

fn mix(state: u64, word: u64) -> u64 {
    let folded = u128::from(state ^ word) * u128::from(K);
    ((folded >> 64) as u64) ^ (folded as u64)
}

impl StateHasher {
    pub fn write_bytes(&mut self, mut bytes: &[u8]) {
        self.length += bytes.len() as u64;
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 8 {
                return;
            }
            self.state = mix(self.state, u64::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.state = mix(self.state, u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    pub fn finish(&self) -> u64 {
        let mut tail = [0; 8];
        tail[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        mix(mix(self.state, u64::from_le_bytes(tail)), self.length)
    }
}

impl Writer for StateHasher {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.write_bytes(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> u64 {
        let mut hasher = StateHasher::default();
        hasher.write_bytes(bytes);
        hasher.finish()
    }

    #[test]
    fn split_writes_hash_like_one_write() {
        let data: Vec<u8> = (0..100).collect();
        let mut hasher = StateHasher::default();
        for piece in data.chunks(3) {
            hasher.write_bytes(piece);
        }
        assert_eq!(hasher.finish(), hash(&data));
    }

    #[test]
    fn length_and_content_matter() {
        assert_ne!(hash(b""), hash(b"\0"));
        assert_ne!(hash(b"abc"), hash(b"abd"));
        assert_ne!(hash(&[0; 8]), hash(&[0; 16]));
    }
}
