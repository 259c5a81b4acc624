//! Kubernetes resource quantities (`500m`, `2`, `1.5`, `1Gi`) as integers.

/// A quantity in thousandths (`500m` → 500, `2` → 2000, `1.5` → 1500, `1k` → 1000000).
/// None when it does not parse.
pub fn millis(q: &str) -> Option<i64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let (number, factor): (&str, f64) = if let Some(n) = q.strip_suffix('m') {
        (n, 1.0)
    } else {
        let suffixes: [(&str, f64); 12] = [
            ("Ki", 1024.0),
            ("Mi", 1024.0 * 1024.0),
            ("Gi", 1024.0 * 1024.0 * 1024.0),
            ("Ti", 1024f64.powi(4)),
            ("Pi", 1024f64.powi(5)),
            ("Ei", 1024f64.powi(6)),
            ("k", 1e3),
            ("M", 1e6),
            ("G", 1e9),
            ("T", 1e12),
            ("P", 1e15),
            ("E", 1e18),
        ];
        match suffixes.iter().find(|(s, _)| q.ends_with(s)) {
            Some((s, f)) => (&q[..q.len() - s.len()], f * 1000.0),
            None => (q, 1000.0),
        }
    };
    let v: f64 = number.parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let m = (v * factor).ceil();
    if m > i64::MAX as f64 {
        None
    } else {
        Some(m as i64)
    }
}

/// A whole count (`2`, `1k`); fractions round up. None when it does not parse.
pub fn count(q: &str) -> Option<i64> {
    millis(q).map(|m| (m + 999) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_counts() {
        assert_eq!(millis("500m"), Some(500));
        assert_eq!(millis("2"), Some(2000));
        assert_eq!(millis("1.5"), Some(1500));
        assert_eq!(millis("0.1"), Some(100));
        assert_eq!(millis("1k"), Some(1_000_000));
        assert_eq!(millis("x"), None);
        assert_eq!(millis("-1"), None);
        assert_eq!(count("8"), Some(8));
        assert_eq!(count("0"), Some(0));
        assert_eq!(count("1Ki"), Some(1024));
    }
}
