//! A small, fast, portable 64-bit hash for state hashes. Not cryptographic: it detects divergence, it does not
//! resist adversaries.

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// 64-bit multiply and xor-shift only: wasm has no 64x64->128 multiply, and this runs on the engine's hot path.
fn mix(state: u64, word: u64) -> u64 {
    let x = (state ^ word).wrapping_mul(K);
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
}

/// Hashes `bytes` a little-endian word at a time, then the length.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut state = 0x243f_6a88_85a3_08d3;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut buffer = [0; 8];
        buffer.copy_from_slice(word);
        state = mix(state, u64::from_le_bytes(buffer));
    }
    let mut tail = [0; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(mix(state, u64::from_le_bytes(tail)), bytes.len() as u64)
}

/// Hashes a sequence of integers one at a time (each as its 64-bit two's complement), then their count; a plain
/// loop of `write` calls, so hot callers pay for no iterator adapters.
#[derive(Clone, Copy, Debug)]
pub struct WordHasher {
    state: u64,
    count: u64,
}

impl Default for WordHasher {
    fn default() -> Self {
        Self { state: 0x243f_6a88_85a3_08d3, count: 0 }
    }
}

impl WordHasher {
    pub fn write(&mut self, word: i64) {
        self.state = mix(self.state, word as u64);
        self.count += 1;
    }

    pub fn finish(self) -> u64 {
        mix(self.state, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_content_matter() {
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abd"));
        assert_ne!(hash_bytes(&[0; 8]), hash_bytes(&[0; 16]));
        assert_ne!(hash_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), hash_bytes(&[0, 0, 0, 0, 0, 0, 0, 0, 1]));
    }

    fn hash_words(words: &[i64]) -> u64 {
        let mut hasher = WordHasher::default();
        words.iter().for_each(|word| hasher.write(*word));
        hasher.finish()
    }

    #[test]
    fn words_hash_by_value_and_position() {
        assert_ne!(hash_words(&[1, 2, 3]), hash_words(&[3, 2, 1]));
        assert_ne!(hash_words(&[0]), hash_words(&[0, 0]));
        // Pinned: account fingerprints are stored in snapshots.
        assert_eq!(format!("{:016x}", hash_words(&[1, 2, 3])), "26b2e5832c5f7624");
    }

    #[test]
    fn value_is_stable_across_platforms() {
        // Pinned: a change here changes every recorded state hash.
        assert_eq!(format!("{:016x}", hash_bytes(b"tradesim")), "60f47b64c4bdebb7");
    }
}
