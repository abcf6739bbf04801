//! Attribute values with the entropy of real traffic: IDs, UUIDs, addresses, URLs with IDs in
//! them, SQL with varying literals, exception messages and stack traces. Compression figures
//! depend on these, so each random part is as wide as it is in the wild.

use std::fmt::Write as _;

use rand::Rng;

/// A trace ID: 16 random bytes (never all zero).
pub fn trace_id(rng: &mut impl Rng) -> [u8; 16] {
    let mut id = [0u8; 16];
    rng.fill(&mut id);
    id[15] |= 1;
    id
}

/// A span ID: 8 random bytes (never all zero).
pub fn span_id(rng: &mut impl Rng) -> [u8; 8] {
    let mut id = [0u8; 8];
    rng.fill(&mut id);
    id[7] |= 1;
    id
}

/// A standard normal variate (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal duration in nanoseconds with the given median and spread (sigma of the
/// underlying normal), at least 1 µs.
pub fn lognormal_ns(rng: &mut impl Rng, median_ns: f64, sigma: f64) -> u64 {
    let v = median_ns * (sigma * normal(rng)).exp();
    (v as u64).max(1_000)
}

/// True with probability `p`.
pub fn chance(rng: &mut impl Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A skewed pick in `0..n`: low indices are much more frequent (a few hot users, routes,
/// keys; a long tail).
pub fn skewed(rng: &mut impl Rng, n: u64) -> u64 {
    let u: f64 = rng.random();
    ((u * u * u) * n as f64) as u64 % n.max(1)
}

/// A version-4 UUID in its text form.
pub fn uuid(rng: &mut impl Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `n` random hex characters.
pub fn hex_chars(rng: &mut impl Rng, n: usize) -> String {
    let mut b = vec![0u8; n.div_ceil(2)];
    rng.fill(&mut b[..]);
    let mut h = hex(&b);
    h.truncate(n);
    h
}

/// `n` random characters from an alphabet of letters and digits (API keys, tokens, IDs).
pub fn alnum(rng: &mut impl Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rng.random_range(0..A.len())] as char)
        .collect()
}

/// A client IP address: mostly public-looking IPv4, some IPv6.
pub fn client_ip(rng: &mut impl Rng) -> String {
    if chance(rng, 0.15) {
        format!(
            "2a02:{:x}:{:x}:{:x}::{:x}",
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u16>()
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.random_range(1..224u8),
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..255u8)
        )
    }
}

/// A pod-network address (10.x.y.z).
pub fn pod_ip(rng: &mut impl Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.random_range(0..4u8),
        rng.random::<u8>(),
        rng.random_range(1..255u8)
    )
}

/// A user ID out of `users`, skewed toward a few active users.
pub fn user_id(rng: &mut impl Rng, users: u64) -> String {
    format!("u-{:07}", skewed(rng, users))
}

/// A numeric entity ID as it appears in URLs (orders, carts, products).
pub fn entity_id(rng: &mut impl Rng) -> u64 {
    rng.random_range(1_000..10_000_000)
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "okhttp/4.12.0",
    "ShopApp/5.3.1 (Android 14; Pixel 8)",
    "curl/8.5.0",
];

pub fn user_agent(rng: &mut impl Rng) -> &'static str {
    USER_AGENTS[skewed(rng, USER_AGENTS.len() as u64) as usize]
}

/// A SQL statement on `table` with literals that vary per call, as an ORM without
/// parameter sanitising would record it.
pub fn sql(rng: &mut impl Rng, table: &str, op: &str) -> String {
    let id = entity_id(rng);
    match op {
        "SELECT" => match rng.random_range(0..3) {
            0 => format!("SELECT * FROM {table} WHERE id = {id}"),
            1 => format!(
                "SELECT id, status, total_cents, updated_at FROM {table} WHERE customer_id = '{}' AND created_at > '2026-{:02}-{:02}' ORDER BY created_at DESC LIMIT {}",
                user_id(rng, 2_000_000),
                rng.random_range(1..12),
                rng.random_range(1..28),
                [10, 20, 50][rng.random_range(0..3)]
            ),
            _ => format!(
                "SELECT COUNT(*) FROM {table} WHERE status IN ('pending', 'paid') AND region = '{}'",
                ["eu-west", "us-east", "ap-south"][rng.random_range(0..3)]
            ),
        },
        "INSERT" => format!(
            "INSERT INTO {table} (id, customer_id, total_cents, currency, created_at) VALUES ({id}, '{}', {}, 'EUR', now())",
            user_id(rng, 2_000_000),
            rng.random_range(100..500_000)
        ),
        "UPDATE" => format!(
            "UPDATE {table} SET status = '{}', updated_at = now() WHERE id = {id}",
            ["paid", "shipped", "cancelled", "refunded"][rng.random_range(0..4)]
        ),
        _ => format!("DELETE FROM {table} WHERE id = {id}"),
    }
}

/// An exception type, message and stack trace for an error in `service`.
pub fn exception(rng: &mut impl Rng, lang: Lang, service: &str) -> (String, String, String) {
    let id = entity_id(rng);
    let (ty, msg) = match (lang, rng.random_range(0..4)) {
        (Lang::Java, 0) => (
            "java.net.SocketTimeoutException",
            format!("Read timed out after {} ms", rng.random_range(500..30_000)),
        ),
        (Lang::Java, 1) => (
            "org.postgresql.util.PSQLException",
            format!(
                "ERROR: duplicate key value violates unique constraint \"orders_pkey\" Detail: Key (id)=({id}) already exists."
            ),
        ),
        (Lang::Java, _) => (
            "java.lang.IllegalStateException",
            format!("order {id} is in state CANCELLED, expected PAID"),
        ),
        (Lang::Go, 0) => (
            "*net.OpError",
            format!("dial tcp {}:5432: connect: connection refused", pod_ip(rng)),
        ),
        (Lang::Go, _) => (
            "*errors.errorString",
            format!("context deadline exceeded while fetching item {id}"),
        ),
        (Lang::Node, 0) => (
            "TypeError",
            format!(
                "Cannot read properties of undefined (reading '{}')",
                ["price", "items", "address", "sku"][rng.random_range(0..4)]
            ),
        ),
        (Lang::Node, 1) => (
            "ConditionalCheckFailedException",
            "The conditional request failed".to_string(),
        ),
        (Lang::Node, _) => (
            "Error",
            format!(
                "Request failed with status code {} for id {id}",
                [500, 502, 503, 504][rng.random_range(0..4)]
            ),
        ),
        (Lang::Python, 0) => (
            "KeyError",
            format!(
                "'{}'",
                ["customer_id", "line_items", "currency"][rng.random_range(0..3)]
            ),
        ),
        (Lang::Python, _) => (
            "botocore.exceptions.ClientError",
            format!(
                "An error occurred (ProvisionedThroughputExceededException) when calling the PutItem operation (request {})",
                alnum(rng, 20).to_uppercase()
            ),
        ),
    };
    (ty.to_string(), msg, stack_trace(rng, lang, service, ty))
}

/// Programming language of a service; it shapes exception types and stack traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Java,
    Go,
    Node,
    Python,
}

impl Lang {
    pub fn sdk(self) -> &'static str {
        match self {
            Lang::Java => "java",
            Lang::Go => "go",
            Lang::Node => "nodejs",
            Lang::Python => "python",
        }
    }
}

fn stack_trace(rng: &mut impl Rng, lang: Lang, service: &str, ty: &str) -> String {
    const FRAMES: &[&str] = &[
        "handle", "process", "validate", "load", "fetch", "save", "apply", "execute", "dispatch",
        "invoke", "call", "resolve",
    ];
    const NOUNS: &[&str] = &[
        "Order",
        "Cart",
        "Payment",
        "Item",
        "Customer",
        "Request",
        "Inventory",
        "Shipment",
    ];
    let depth = rng.random_range(6..18);
    let mut s = String::new();
    match lang {
        Lang::Java => {
            let _ = writeln!(s, "{ty}");
            for _ in 0..depth {
                let noun = NOUNS[rng.random_range(0..NOUNS.len())];
                let _ = writeln!(
                    s,
                    "\tat com.shop.{service}.{noun}Service.{}{noun}({noun}Service.java:{})",
                    FRAMES[rng.random_range(0..FRAMES.len())],
                    rng.random_range(20..900)
                );
            }
            s.push_str("\tat java.base/java.lang.Thread.run(Thread.java:1583)");
        }
        Lang::Go => {
            let _ = writeln!(s, "goroutine {} [running]:", rng.random_range(1..5000));
            for _ in 0..depth {
                let noun = NOUNS[rng.random_range(0..NOUNS.len())];
                let _ = writeln!(
                    s,
                    "github.com/shop/{service}/internal.(*{noun}Store).{}(0xc{:09x})\n\t/src/internal/{}.go:{} +0x{:x}",
                    FRAMES[rng.random_range(0..FRAMES.len())],
                    rng.random::<u32>(),
                    noun.to_lowercase(),
                    rng.random_range(20..600),
                    rng.random_range(0x10..0x400)
                );
            }
        }
        Lang::Node => {
            let _ = writeln!(s, "{ty}: see message");
            for _ in 0..depth {
                let noun = NOUNS[rng.random_range(0..NOUNS.len())];
                let _ = writeln!(
                    s,
                    "    at {}{noun} (/var/task/src/{}.js:{}:{})",
                    FRAMES[rng.random_range(0..FRAMES.len())],
                    noun.to_lowercase(),
                    rng.random_range(1..400),
                    rng.random_range(1..80)
                );
            }
            s.push_str(
                "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
            );
        }
        Lang::Python => {
            s.push_str("Traceback (most recent call last):\n");
            for _ in 0..depth {
                let noun = NOUNS[rng.random_range(0..NOUNS.len())];
                let _ = writeln!(
                    s,
                    "  File \"/var/task/{service}/{}.py\", line {}, in {}_{}",
                    noun.to_lowercase(),
                    rng.random_range(10..700),
                    FRAMES[rng.random_range(0..FRAMES.len())],
                    noun.to_lowercase()
                );
            }
            let _ = write!(s, "{ty}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut v: Vec<u64> = (0..20_001)
            .map(|_| lognormal_ns(&mut rng, 1e6, 1.0))
            .collect();
        v.sort_unstable();
        let median = v[10_000] as f64;
        assert!((0.93e6..1.07e6).contains(&median), "median {median}");
    }

    #[test]
    fn uuid_is_v4_text() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u.matches('-').count(), 4);
    }
}
