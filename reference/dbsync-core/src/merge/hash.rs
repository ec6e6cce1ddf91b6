//! A fast, non-cryptographic hasher for maps keyed by small integers and
//! short values (the Fx hash of rustc, with the murmur3 finaliser). Merge inputs come from the
//! authenticated server, so hash flooding is not a concern here.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The murmur3 finaliser: the multiply-rotate steps leave the low
        // bits weak, and hash tables index by them.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// `HashMap<K, V, FxBuild>`.
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A hash map with the Fx hasher.
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

/// The murmur3 64-bit finaliser.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A hasher for keys that end in a row id (`i64`, or `(table, i64)`):
/// ids of one block of 4096 land in neighbouring buckets, so that work in
/// key order touches memory in order; blocks, tables and the tag bits the
/// table keeps are mixed.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher {
    prefix: u64,
    id: u64,
}

impl IdHasher {
    #[inline]
    fn push(&mut self, word: u64) {
        // Every word but the last is prefix; the last is the id.
        self.prefix = fmix64(self.prefix ^ self.id ^ 0x2545_f491_4f6c_dd1d);
        self.id = word;
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut fx = FxHasher::default();
        fx.write(bytes);
        self.push(fx.finish());
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.push(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.push(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.push(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.push(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        const LOW: u64 = (1 << 57) - 1;
        let id = self.id;
        let block = fmix64(self.prefix ^ (id >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let tag = fmix64(id ^ self.prefix.rotate_left(32));
        ((id ^ block) & LOW) | (tag & !LOW)
    }
}

/// `HashMap<K, V, IdBuild>`.
pub type IdBuild = BuildHasherDefault<IdHasher>;
/// A hash map for keys that end in a row id.
pub type IdHashMap<K, V> = std::collections::HashMap<K, V, IdBuild>;
