//! Sizes (`64MiB`) and durations (`90s`) as users write them in grants and policies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ValueError;

/// A number of bytes, written as `64MiB`, `512KiB`, `1M`, `10GB` or a plain number of bytes.
///
/// `K`, `M`, `G` and `KiB`, `MiB`, `GiB` are powers of 1024 (as `docker run -m 64m` means);
/// `KB`, `MB`, `GB` are powers of 1000. Units are case-insensitive; a space before the unit is
/// allowed; fractions are not.
///
/// ```
/// use davit_spec::ByteSize;
///
/// assert_eq!("64MiB".parse::<ByteSize>().unwrap().bytes(), 64 << 20);
/// assert_eq!("1M".parse::<ByteSize>().unwrap(), ByteSize::mib(1));
/// assert_eq!(ByteSize::kib(512).to_string(), "512KiB");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// `n` bytes.
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        Self(n << 10)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Size {
            got: text.to_owned(),
        };
        let (number, unit) = split_number(text.trim()).ok_or_else(bad)?;
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(bad()),
        };
        number.checked_mul(multiplier).map(Self).ok_or_else(bad)
    }
}

impl TryFrom<&str> for ByteSize {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        text.parse()
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly: `64MiB`, `1536KiB`, `100B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n != 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}B")
    }
}

/// Parses a duration: `500ms`, `90s`, `5m`, `1h`, or a plain number of seconds.
///
/// # Errors
///
/// [`ValueError::Duration`] if `text` is none of these, or overflows.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let bad = || ValueError::Duration {
        got: text.to_owned(),
    };
    let (number, unit) = split_number(text.trim()).ok_or_else(bad)?;
    let seconds = |n: u64| Some(Duration::from_secs(n));
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => seconds(number),
        "m" => number.checked_mul(60).and_then(seconds),
        "h" => number.checked_mul(3600).and_then(seconds),
        _ => None,
    }
    .ok_or_else(bad)
}

/// Formats a duration the way [`parse_duration`] reads it: `90s`, `1h`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        let s = d.as_secs();
        match s {
            0 => "0s".to_owned(),
            _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
            _ if s.is_multiple_of(60) => format!("{}m", s / 60),
            _ => format!("{s}s"),
        }
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Splits `"64 MiB"` into `(64, "MiB")`; `None` without leading digits or on overflow.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let b = |s: &str| s.parse::<ByteSize>().map(ByteSize::bytes);
        assert_eq!(b("64MiB"), Ok(64 << 20));
        assert_eq!(b("1M"), Ok(1 << 20));
        assert_eq!(b("512KiB"), Ok(512 << 10));
        assert_eq!(b("512 kib"), Ok(512 << 10));
        assert_eq!(b("1GB"), Ok(1_000_000_000));
        assert_eq!(b("4096"), Ok(4096));
        assert_eq!(b("10B"), Ok(10));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "12 parsecs",
            "99999999999999999999",
            "20000000000G",
        ] {
            assert!(b(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_display_in_the_largest_exact_unit() {
        assert_eq!(ByteSize::mib(64).to_string(), "64MiB");
        assert_eq!(ByteSize::kib(1536).to_string(), "1536KiB");
        assert_eq!(ByteSize::new(100).to_string(), "100B");
        assert_eq!(ByteSize::new(0).to_string(), "0B");
        assert_eq!(ByteSize::new(3 << 30).to_string(), "3GiB");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "1d", "1.5s", "-3s", "18446744073709551615h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for text in ["90s", "1h", "5m", "1500ms", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
