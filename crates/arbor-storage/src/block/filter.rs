//! The trace-ID filter: a split-block Bloom filter (SBBF) over the trace IDs of a block.
//!
//! A reader loads it whole (about 1.2 bytes per trace at a 1% false-positive rate) and asks it
//! before touching the block's Parquet files. The byte layout is in `docs/format.md`:
//!
//! ```text
//! offset  size     field
//! 0       4        magic "ARBF"
//! 4       4        u32 LE layout version (1)
//! 8       4        u32 LE number of blocks B (>= 1)
//! 12      4        u32 LE reserved (0)
//! 16      8        u64 LE number of trace IDs inserted
//! 24      32 * B   the blocks; block i is eight u32 LE words
//! 24+32B  4        u32 LE CRC32C of every byte before it
//! ```
//!
//! A trace ID is hashed with [`hash_trace_id`]; the high 32 bits pick the block
//! (`(h >> 32) * B >> 32`), the low 32 bits set one bit in each of the block's eight words,
//! exactly as Parquet's own SBBF does (same salts), so the probe is eight word tests.

use arbor_model::TraceId;

use super::BlockError;

/// The `kind` recorded in `meta.trace_filter`.
pub const KIND: &str = "sbbf";
/// The name of the filter's file inside a block.
pub const FILE: &str = "trace-ids.sbbf";
/// The name of the hash function, recorded in `meta.trace_filter.params.hash`.
pub const HASH_NAME: &str = "arbor-mix64-v1";
/// The false-positive rate the filter is sized for.
pub const TARGET_FPP: f64 = 0.01;

const MAGIC: &[u8; 4] = b"ARBF";
const LAYOUT_VERSION: u32 = 1;
const HEADER: usize = 24;

/// Parquet's SBBF salts: word `i` of a block gets bit `(x * SALT[i]) >> 27`.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// The splitmix64 finaliser.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The filter's hash of a trace ID: with `a` = bytes 0..8 and `b` = bytes 8..16 read as
/// little-endian u64, `mix64(a ^ mix64(b ^ 0x9e3779b97f4a7c15))`, where `mix64` is the
/// splitmix64 finaliser. Trace IDs are usually random, but 64-bit IDs padded with zeros are
/// common, so every byte goes through the mixer.
pub fn hash_trace_id(id: &TraceId) -> u64 {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&id.0[..8]);
    b.copy_from_slice(&id.0[8..]);
    mix64(u64::from_le_bytes(a) ^ mix64(u64::from_le_bytes(b) ^ 0x9e37_79b9_7f4a_7c15))
}

/// Blocks needed for `keys` keys at false-positive rate `fpp` (Parquet's sizing formula).
pub fn blocks_for(keys: u64, fpp: f64) -> u32 {
    let keys = keys.max(1) as f64;
    let bits = -8.0 * keys / (1.0 - fpp.powf(1.0 / 8.0)).ln();
    let blocks = (bits / 256.0).ceil();
    blocks.clamp(1.0, u32::MAX as f64) as u32
}

/// A split-block Bloom filter over trace IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFilter {
    blocks: Vec<[u32; 8]>,
    keys: u64,
}

impl TraceFilter {
    /// Builds a filter from the hashes ([`hash_trace_id`]) of the IDs it must admit.
    pub fn build(hashes: &[u64], fpp: f64) -> Self {
        let mut f = Self {
            blocks: vec![[0u32; 8]; blocks_for(hashes.len() as u64, fpp) as usize],
            keys: hashes.len() as u64,
        };
        for &h in hashes {
            let i = f.block_index(h);
            let m = mask(h as u32);
            for (w, bit) in f.blocks[i].iter_mut().zip(m) {
                *w |= bit;
            }
        }
        f
    }

    fn block_index(&self, h: u64) -> usize {
        (((h >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    /// False when the ID was certainly not inserted.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.may_contain_hash(hash_trace_id(id))
    }

    pub fn may_contain_hash(&self, h: u64) -> bool {
        let block = &self.blocks[self.block_index(h)];
        block
            .iter()
            .zip(mask(h as u32))
            .all(|(w, bit)| w & bit != 0)
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    pub fn num_keys(&self) -> u64 {
        self.keys
    }

    /// The file's bytes (layout in the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.blocks.len() * 32 + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.keys.to_le_bytes());
        for block in &self.blocks {
            for w in block {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a filter file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlockError> {
        let corrupt = |what: &str| BlockError::Corrupt {
            what: format!("trace filter: {what}"),
        };
        if bytes.len() < HEADER + 4 {
            return Err(corrupt("file too short"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| corrupt("no checksum"))?);
        if crc32c::crc32c(body) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        if &body[0..4] != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([body[o], body[o + 1], body[o + 2], body[o + 3]]);
        let version = u32_at(4);
        if version != LAYOUT_VERSION {
            return Err(corrupt(&format!("unknown layout version {version}")));
        }
        let n = u32_at(8) as usize;
        let mut keys = [0u8; 8];
        keys.copy_from_slice(&body[16..24]);
        let keys = u64::from_le_bytes(keys);
        if n == 0 || body.len() != HEADER + n * 32 {
            return Err(corrupt("size does not match the block count"));
        }
        let blocks = body[HEADER..]
            .chunks_exact(32)
            .map(|c| {
                let mut b = [0u32; 8];
                for (i, w) in b.iter_mut().enumerate() {
                    *w = u32::from_le_bytes([c[i * 4], c[i * 4 + 1], c[i * 4 + 2], c[i * 4 + 3]]);
                }
                b
            })
            .collect();
        Ok(Self { blocks, keys })
    }
}

fn mask(x: u32) -> [u32; 8] {
    let mut m = [0u32; 8];
    for (i, w) in m.iter_mut().enumerate() {
        *w = 1u32 << (x.wrapping_mul(SALT[i]) >> 27);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&n.to_be_bytes());
        TraceId(b)
    }

    #[test]
    fn block_filter_admits_members_and_rejects_most_others() {
        let members: Vec<u64> = (1..=10_000u64).map(|n| hash_trace_id(&id(n))).collect();
        let f = TraceFilter::build(&members, TARGET_FPP);
        for n in 1..=10_000u64 {
            assert!(f.may_contain(&id(n)));
        }
        let fp = (1_000_000..1_100_000u64)
            .filter(|&n| f.may_contain(&id(n)))
            .count();
        let rate = fp as f64 / 100_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
        let back = TraceFilter::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn block_filter_refuses_damaged_bytes() {
        let f = TraceFilter::build(&[1, 2, 3], TARGET_FPP);
        let mut bytes = f.to_bytes();
        bytes[HEADER] ^= 1;
        assert!(matches!(
            TraceFilter::from_bytes(&bytes),
            Err(BlockError::Corrupt { .. })
        ));
        assert!(TraceFilter::from_bytes(&bytes[..10]).is_err());
    }

    #[test]
    fn block_filter_empty_is_valid() {
        let f = TraceFilter::build(&[], TARGET_FPP);
        assert_eq!(f.num_blocks(), 1);
        assert!(!f.may_contain(&id(7)));
    }
}
