//! `resource.Quantity` (k8s.io/apimachinery/pkg/api/resource): parsing, exact arithmetic and the
//! canonical string form the apiserver prints (`500m`, `1Gi`, `1536`, `1k`).
//!
//! Values are held exactly in nano-units (i128), the smallest scale Kubernetes keeps (it rounds
//! finer values up to 1n); that covers every quantity up to ~1.7e20 units, beyond anything a
//! resource list holds.

use std::cmp::Ordering;
use std::fmt;

/// How a quantity prints (the format of its first non-zero term, as `Quantity.Add` keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A quantity: an exact value in nano-units and its format.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    pub format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// A string that is not a quantity: the apiserver's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct ParseQuantityError;

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub fn zero() -> Self {
        Quantity {
            nanos: 0,
            format: Format::DecimalSI,
        }
    }

    /// A whole number of units (DecimalSI).
    pub fn from_units(n: i64) -> Self {
        Quantity {
            nanos: i128::from(n) * NANO,
            format: Format::DecimalSI,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// `Quantity.Add`: a zero receiver takes the other's format.
    pub fn add(&mut self, other: &Quantity) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_add(other.nanos);
    }

    /// `Quantity.Sub`.
    pub fn sub(&mut self, other: &Quantity) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_sub(other.nanos);
    }

    /// Parses a quantity string (`ParseQuantity`).
    pub fn parse(s: &str) -> Result<Quantity, ParseQuantityError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParseQuantityError);
        }
        let (neg, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(ParseQuantityError);
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        // value = digits * 10^-frac_len, in nanos.
        let digits = format!("{int_part}{frac_part}");
        let mut mantissa: i128 = 0;
        for b in digits.bytes() {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(b - b'0')))
                .ok_or(ParseQuantityError)?;
        }
        let frac_len = i32::try_from(frac_part.len()).map_err(|_| ParseQuantityError)?;
        let (format, mul_num, dec_exp): (Format, i128, i32) = match suffix {
            "" => (Format::DecimalSI, 1, 0),
            "n" => (Format::DecimalSI, 1, -9),
            "u" => (Format::DecimalSI, 1, -6),
            "m" => (Format::DecimalSI, 1, -3),
            "k" => (Format::DecimalSI, 1, 3),
            "M" => (Format::DecimalSI, 1, 6),
            "G" => (Format::DecimalSI, 1, 9),
            "T" => (Format::DecimalSI, 1, 12),
            "P" => (Format::DecimalSI, 1, 15),
            "E" => (Format::DecimalSI, 1, 18),
            "Ki" => (Format::BinarySI, 1 << 10, 0),
            "Mi" => (Format::BinarySI, 1 << 20, 0),
            "Gi" => (Format::BinarySI, 1 << 30, 0),
            "Ti" => (Format::BinarySI, 1 << 40, 0),
            "Pi" => (Format::BinarySI, 1 << 50, 0),
            "Ei" => (Format::BinarySI, 1 << 60, 0),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..].parse().map_err(|_| ParseQuantityError)?;
                (Format::DecimalExponent, 1, exp)
            }
            _ => return Err(ParseQuantityError),
        };
        // nanos = mantissa * mul_num * 10^(dec_exp - frac_len + 9), rounded up when finer than 1n.
        let exp10 = dec_exp - frac_len + 9;
        let base = mantissa.checked_mul(mul_num).ok_or(ParseQuantityError)?;
        let nanos = if exp10 >= 0 {
            let p = 10i128
                .checked_pow(u32::try_from(exp10).map_err(|_| ParseQuantityError)?)
                .ok_or(ParseQuantityError)?;
            base.checked_mul(p).ok_or(ParseQuantityError)?
        } else {
            let p = 10i128
                .checked_pow(u32::try_from(-exp10).map_err(|_| ParseQuantityError)?)
                .unwrap_or(i128::MAX);
            let q = base / p;
            if base % p != 0 { q + 1 } else { q }
        };
        Ok(Quantity {
            nanos: if neg { -nanos } else { nanos },
            format,
        })
    }

    /// The canonical form (`Quantity.String()`).
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".into();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let mut format = self.format;
        if format == Format::BinarySI {
            let units_exact = abs.is_multiple_of(NANO as u128);
            if abs < 1024 * NANO as u128 || !units_exact {
                format = Format::DecimalSI;
            } else {
                let mut n = abs / NANO as u128;
                let mut e = 0;
                while e < 6 && n.is_multiple_of(1024) {
                    n /= 1024;
                    e += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e];
                return format!("{sign}{n}{suffix}");
            }
        }
        // Decimal: the largest exponent (a multiple of 3, from -9 up to 18) that keeps an integer
        // mantissa.
        let mut n = abs;
        let mut e: i32 = -9;
        while e < 18 && n.is_multiple_of(1000) {
            n /= 1000;
            e += 3;
        }
        let suffix = match format {
            Format::DecimalExponent => {
                if e == 0 {
                    String::new()
                } else {
                    format!("e{e}")
                }
            }
            _ => match e {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                _ => "E",
            }
            .to_string(),
        };
        format!("{sign}{n}{suffix}")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Parses a quantity held as a JSON string or number.
pub fn from_json(v: &serde_json::Value) -> Result<Quantity, ParseQuantityError> {
    match v {
        serde_json::Value::String(s) => Quantity::parse(s),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => Err(ParseQuantityError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        Quantity::parse(s).expect(s).canonical()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(c("500m"), "500m");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("1000"), "1k");
        assert_eq!(c("1024Mi"), "1Gi");
        assert_eq!(c("1536"), "1536");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("512"), "512");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("0"), "0");
        assert_eq!(c("0Gi"), "0");
        assert_eq!(c("-2"), "-2");
        assert_eq!(c("1n"), "1n");
        assert_eq!(c("0.1n"), "1n");
        assert_eq!(c("2M"), "2M");
        assert_eq!(c("12e6"), "12e6");
        assert!(Quantity::parse("abc").is_err());
        assert!(Quantity::parse("1.2.3").is_err());
        assert!(Quantity::parse("1Zi").is_err());
        assert!(Quantity::parse("").is_err());
    }

    #[test]
    fn arithmetic_keeps_the_first_non_zero_format() {
        let mut sum = Quantity::zero();
        sum.add(&Quantity::parse("128Mi").expect("q"));
        sum.add(&Quantity::parse("128Mi").expect("q"));
        assert_eq!(sum.canonical(), "256Mi");
        let mut cpu = Quantity::zero();
        cpu.add(&Quantity::parse("250m").expect("q"));
        cpu.add(&Quantity::parse("1").expect("q"));
        assert_eq!(cpu.canonical(), "1250m");
        assert!(Quantity::parse("1").expect("q") > Quantity::parse("999m").expect("q"));
        assert_eq!(
            Quantity::parse("1Gi").expect("q"),
            Quantity::parse("1073741824").expect("q")
        );
    }
}
