//! The byte mutator: a seeded random source and the mutations the engine stacks on an input
//! taken from the corpus — bit flips, random and "interesting" bytes and integers, inserts,
//! deletes, duplicated ranges, the target's dictionary of tokens, ASCII number edits and
//! splices with another corpus entry. Everything is a function of the seed, so a run repeats
//! exactly.

/// SplitMix64: small, fast, and the same sequence for the same seed on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// An offset biased to small ranges: most edits are a few bytes long.
    pub fn small_len(&mut self, max: usize) -> usize {
        let cap = match self.below(4) {
            0 => 1,
            1 => 4,
            2 => 16,
            _ => 256,
        };
        1 + self.below(cap.min(max.max(1)))
    }
}

const INTERESTING_BYTES: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b'.'];
const INTERESTING_U32: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Mutates inputs for one target: its dictionary and the longest input worth trying.
#[derive(Debug, Clone)]
pub struct Mutator {
    dict: Vec<Vec<u8>>,
    max_len: usize,
}

impl Mutator {
    pub fn new(dict: &[&[u8]], max_len: usize) -> Self {
        Self {
            dict: dict.iter().map(|d| d.to_vec()).collect(),
            max_len,
        }
    }

    /// Applies one to eight stacked mutations to `input`; `other` is another corpus entry to
    /// splice from.
    pub fn mutate(&self, rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
        let most = if rng.one_in(4) { 8 } else { 2 };
        let rounds = 1 + rng.below(most);
        for _ in 0..rounds {
            self.mutate_once(rng, input, other);
        }
        input.truncate(self.max_len);
    }

    fn mutate_once(&self, rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
        let len = input.len();
        match rng.below(13) {
            // Flip one bit.
            0 if len > 0 => {
                let at = rng.below(len);
                input[at] ^= 1 << rng.below(8);
            }
            // A random byte.
            1 if len > 0 => {
                let at = rng.below(len);
                input[at] = rng.byte();
            }
            // An interesting byte.
            2 if len > 0 => {
                let at = rng.below(len);
                input[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            // An interesting little- or big-endian integer over 1, 2 or 4 bytes.
            3 if len > 0 => {
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                let bytes = if rng.one_in(2) {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let width = [1, 2, 4][rng.below(3)].min(len);
                let at = rng.below(len - width + 1);
                input[at..at + width].copy_from_slice(&bytes[..width]);
            }
            // Insert random bytes.
            4 => {
                let at = rng.below(len + 1);
                let n = rng.small_len(64);
                let fill = rng.bytes(n);
                input.splice(at..at, fill);
            }
            // Delete a range.
            5 if len > 0 => {
                let at = rng.below(len);
                let n = rng.small_len(len - at).min(len - at);
                input.drain(at..at + n);
            }
            // Duplicate a range in place.
            6 if len > 0 => {
                let at = rng.below(len);
                let n = rng.small_len(len - at).min(len - at);
                let chunk = input[at..at + n].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, chunk);
            }
            // Insert or overwrite with a dictionary token.
            7 | 8 if !self.dict.is_empty() => {
                let token = &self.dict[rng.below(self.dict.len())];
                let at = rng.below(len + 1);
                if rng.one_in(2) || at + token.len() > len {
                    input.splice(at..at, token.iter().copied());
                } else {
                    input[at..at + token.len()].copy_from_slice(token);
                }
            }
            // Change an ASCII number: grow it, negate it, or replace it with an extreme.
            9 => mutate_number(rng, input),
            // Splice: a prefix of this input, a suffix of the other.
            10 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            // Cut the tail off.
            11 if len > 0 => input.truncate(rng.below(len)),
            // Repeat a short range many times (deep nesting, long runs).
            12 if len > 0 => {
                let at = rng.below(len);
                let n = rng.small_len(8).min(len - at);
                let chunk = input[at..at + n].to_vec();
                let times = 1 + rng.below(200);
                let to = rng.below(len + 1);
                input.splice(to..to, chunk.repeat(times));
            }
            _ => {
                let at = rng.below(len + 1);
                input.insert(at, rng.byte());
            }
        }
    }
}

fn mutate_number(rng: &mut Rng, input: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit())
        .collect();
    if digits.is_empty() {
        let at = rng.below(input.len() + 1);
        input.splice(at..at, b"1e308".iter().copied());
        return;
    }
    let at = digits[rng.below(digits.len())];
    let mut end = at;
    while end < input.len() && input[end].is_ascii_digit() {
        end += 1;
    }
    const EXTREMES: &[&[u8]] = &[
        b"0",
        b"-1",
        b"18446744073709551615",
        b"18446744073709551616",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"4294967296",
        b"1e308",
        b"1e30",
        b"99999999999999999999999999",
        b"0.000000001",
        b"NaN",
        b"Infinity",
    ];
    let replacement: Vec<u8> = match rng.below(3) {
        0 => EXTREMES[rng.below(EXTREMES.len())].to_vec(),
        1 => {
            let mut v = input[at..end].to_vec();
            v.extend(std::iter::repeat_n(b'9', 1 + rng.below(20)));
            v
        }
        _ => {
            let mut v = b"-".to_vec();
            v.extend_from_slice(&input[at..end]);
            v
        }
    };
    input.splice(at..end, replacement);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations() {
        let m = Mutator::new(&[b"token"], 1 << 16);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut v = b"{\"a\": 12345}".to_vec();
            for _ in 0..200 {
                m.mutate(&mut rng, &mut v, b"other input");
            }
            v
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn inputs_stay_within_the_length_limit() {
        let m = Mutator::new(&[b"a much longer dictionary token than the limit"], 32);
        let mut rng = Rng::new(1);
        let mut v = vec![0u8; 16];
        for _ in 0..2_000 {
            m.mutate(&mut rng, &mut v, &[1u8; 100]);
            assert!(v.len() <= 32);
        }
    }
}
