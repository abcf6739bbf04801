//! Trace and span identifiers.
//!
//! A trace ID is 16 bytes, a span ID 8 bytes; all-zero IDs are invalid (OTLP spec). Hex input
//! is accepted in either case and with leading zeros omitted (as Tempo and Jaeger print
//! 64-bit trace IDs), so `"abc"` names the trace `000…0abc`.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must be {expected} bytes, got {got}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what} is all zeros")]
    Zero { what: &'static str },
    #[error("{what} is not hex: {input:?}")]
    NotHex { what: &'static str, input: String },
    #[error("{what} has {got} hex digits, at most {max} allowed")]
    TooLong {
        what: &'static str,
        got: usize,
        max: usize,
    },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $what:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// From raw bytes as found in OTLP protobuf: exactly the right length, not zero.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    what: $what,
                    expected: $len,
                    got: bytes.len(),
                })?;
                if arr == [0u8; $len] {
                    return Err(IdError::Zero { what: $what });
                }
                Ok(Self(arr))
            }

            /// From hex of any case, left-padded with zeros when shorter than the full width.
            pub fn from_hex(input: &str) -> Result<Self, IdError> {
                let s = input.trim();
                if s.len() > $len * 2 {
                    return Err(IdError::TooLong {
                        what: $what,
                        got: s.len(),
                        max: $len * 2,
                    });
                }
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdError::NotHex {
                        what: $what,
                        input: input.chars().take(64).collect(),
                    });
                }
                let padded = format!("{:0>width$}", s, width = $len * 2);
                let mut out = [0u8; $len];
                hex::decode_to_slice(&padded, &mut out).map_err(|_| IdError::NotHex {
                    what: $what,
                    input: input.chars().take(64).collect(),
                })?;
                if out == [0u8; $len] {
                    return Err(IdError::Zero { what: $what });
                }
                Ok(Self(out))
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_any_case_and_short_forms() {
        let a = TraceId::from_hex("00000000000000000000000000000ABC").unwrap();
        let b = TraceId::from_hex("abc").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_hex(), "00000000000000000000000000000abc");
    }

    #[test]
    fn rejects_zero_long_and_non_hex() {
        assert_eq!(
            TraceId::from_hex("0"),
            Err(IdError::Zero { what: "trace id" })
        );
        assert!(matches!(
            TraceId::from_hex(&"1".repeat(33)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            SpanId::from_hex("xyz"),
            Err(IdError::NotHex { .. })
        ));
        assert!(matches!(SpanId::from_hex(""), Err(IdError::NotHex { .. })));
    }

    #[test]
    fn from_bytes_checks_length_and_zero() {
        assert!(matches!(
            SpanId::from_bytes(&[1, 2, 3]),
            Err(IdError::WrongLength {
                expected: 8,
                got: 3,
                ..
            })
        ));
        assert_eq!(
            SpanId::from_bytes(&[0; 8]),
            Err(IdError::Zero { what: "span id" })
        );
        assert_eq!(
            SpanId::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 1])
                .unwrap()
                .to_hex(),
            "0000000000000001"
        );
    }
}
