//! Wallet address shapes and evidence formatting (addresses shortened, at most 120 characters).

/// Most characters of a finding's evidence.
pub use crate::api::common::MAX_EVIDENCE_CHARS;

/// A wallet address shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalletKind {
    /// 95-character base58 standard address (starts with 4 or 8) or 106-character integrated one.
    Monero,
    /// `0x` and 40 hex digits.
    Ethereum,
    /// Legacy base58 (1..., 3...) or bech32 `bc1...`.
    Bitcoin,
    /// 34-character base58 starting with R.
    Ravencoin,
    /// 34-character base58 starting with L or M, or bech32 `ltc1...`.
    Litecoin,
    /// Bech32 `dero1q...` (66 characters) or integrated `deroi1q...` (the Dero miners'
    /// `--wallet-address`, as in the 2023 Kubernetes campaigns).
    Dero,
}

impl WalletKind {
    pub(crate) const ALL: [WalletKind; 6] = [
        WalletKind::Monero,
        WalletKind::Ethereum,
        WalletKind::Bitcoin,
        WalletKind::Ravencoin,
        WalletKind::Litecoin,
        WalletKind::Dero,
    ];

    pub(crate) fn id(self) -> &'static str {
        match self {
            WalletKind::Monero => "monero",
            WalletKind::Ethereum => "ethereum",
            WalletKind::Bitcoin => "bitcoin",
            WalletKind::Ravencoin => "ravencoin",
            WalletKind::Litecoin => "litecoin",
            WalletKind::Dero => "dero",
        }
    }

    /// Monero and Dero addresses are distinctive enough to count anywhere; the others only
    /// next to pool evidence or as the value of a pool user/wallet option.
    pub(crate) fn unambiguous(self) -> bool {
        matches!(self, WalletKind::Monero | WalletKind::Dero)
    }
}

fn is_base58(b: u8) -> bool {
    b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l')
}

/// Classify one alphanumeric run.
pub(crate) fn classify(run: &str) -> Option<WalletKind> {
    let b = run.as_bytes();
    let n = b.len();
    if n < 26 {
        return None;
    }
    if (n == 95 && matches!(b[0], b'4' | b'8') || n == 106 && b[0] == b'4')
        && b.iter().all(|&c| is_base58(c))
    {
        return Some(WalletKind::Monero);
    }
    if n == 42
        && (run.starts_with("0x") || run.starts_with("0X"))
        && b[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return Some(WalletKind::Ethereum);
    }
    let bech32 = |prefix: &str| {
        run.starts_with(prefix)
            && (n == prefix.len() + 39 || n == prefix.len() + 59)
            && b[prefix.len()..]
                .iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    for prefix in ["dero1q", "deroi1q"] {
        if run.starts_with(prefix)
            && (if prefix == "dero1q" {
                n == 66
            } else {
                (80..=250).contains(&n)
            })
            && b[prefix.len()..]
                .iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Some(WalletKind::Dero);
        }
    }
    if bech32("bc1") {
        return Some(WalletKind::Bitcoin);
    }
    if bech32("ltc1") {
        return Some(WalletKind::Litecoin);
    }
    if !b.iter().all(|&c| is_base58(c)) || n > 35 {
        return None;
    }
    let has_upper = b.iter().any(u8::is_ascii_uppercase);
    let has_lower = b.iter().any(u8::is_ascii_lowercase);
    let has_digit = b.iter().any(u8::is_ascii_digit);
    if !(has_upper && has_lower && has_digit) {
        // base58 addresses mix all three; words like identifiers rarely do
        return None;
    }
    match (b[0], n) {
        (b'1' | b'3', 26..=35) => Some(WalletKind::Bitcoin),
        (b'R', 34) => Some(WalletKind::Ravencoin),
        (b'L' | b'M', 34) => Some(WalletKind::Litecoin),
        _ => None,
    }
}

/// Alphanumeric runs of `s` at least 26 bytes long, with their byte offsets.
pub(crate) fn runs(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i - start >= 26 {
                return Some((start, &s[start..i]));
            }
        }
        None
    })
}

/// Wallet addresses found in `s` (kind, byte range).
pub(crate) fn find_wallets(s: &str) -> impl Iterator<Item = (WalletKind, usize, usize)> + '_ {
    runs(s).filter_map(|(start, run)| classify(run).map(|k| (k, start, start + run.len())))
}

/// `44K7L8BUNYUG...MUp` → `44K7L8BU…MUp`.
pub(crate) fn shorten_address(a: &str) -> String {
    if a.len() <= 14 {
        return a.to_string();
    }
    format!("{}…{}", &a[..8], &a[a.len() - 3..])
}

/// Replace every wallet address in `s` by its shortened form.
pub(crate) fn shorten_wallets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (_, start, end) in find_wallets(s) {
        out.push_str(&s[last..start]);
        out.push_str(&shorten_address(&s[start..end]));
        last = end;
    }
    out.push_str(&s[last..]);
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Evidence for a match at `start..end` of `text`: a window around it, wallets shortened,
/// at most [`MAX_EVIDENCE_CHARS`] characters, `decoded: ` in front for decoded payloads.
pub(crate) fn evidence(text: &str, start: usize, end: usize, decoded: bool) -> String {
    let start = floor_boundary(text, start);
    let from = floor_boundary(text, start.saturating_sub(40));
    // start the window at a word boundary when one is near
    let from = match text[from..start.max(from)].find(char::is_whitespace) {
        Some(ws) if from > 0 => from + ws + 1,
        _ => from,
    };
    let to = floor_boundary(text, end.max(from) + 240);
    let mut s = String::new();
    if decoded {
        s.push_str("decoded: ");
    }
    if from > 0 {
        s.push('…');
    }
    s.push_str(&shorten_wallets(&text[from..to]));
    if to < text.len() {
        s.push('…');
    }
    truncate_chars(&s, MAX_EVIDENCE_CHARS)
}

/// Cut a string to at most `max` characters, marking the cut with `…` (the same bound the
/// incident's schema puts on its strings).
pub(crate) use crate::api::incident::bounded as truncate_chars;

#[cfg(test)]
mod tests {
    use super::*;

    const XMR: &str = "44K7L8BUNYUGZdZHMc2fkxRwfemfmgWgcCkmRu3CgCg5YT4FWCfS1g9p5cR1RYpWhQo8ZS76sTTyc7wgCzjYXVfv6SaZMUp";

    #[test]
    fn shapes() {
        assert_eq!(XMR.len(), 95);
        assert_eq!(classify(XMR), Some(WalletKind::Monero));
        let dero = "dero1qy3re85alh834xhwtr57l87d8rlqagr2amau2wvll8fy2vdan8e77qg39490z";
        assert_eq!(classify(dero), Some(WalletKind::Dero));
        assert_eq!(
            classify(
                "deroi1qyzlxxgq2weyqlxg5u4tkng2lf5rktwanqhse2hwm577ps22zv2x2q9pvfz92xmks5khyddz99fsacg4k9"
            ),
            Some(WalletKind::Dero)
        );
        assert_eq!(classify(&dero[..65]), None);
        assert_eq!(classify(&dero.to_uppercase()), None);
        assert_eq!(
            classify("0xfdb18fa076bd55f6434bc38e03d2b08145f6fe02"),
            Some(WalletKind::Ethereum)
        );
        assert_eq!(
            classify("RXLdrSHoatFf8hvERYHfcAV1Bchtq65JZu"),
            Some(WalletKind::Ravencoin)
        );
        assert_eq!(
            classify("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
            Some(WalletKind::Bitcoin)
        );
        assert_eq!(
            classify("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
            Some(WalletKind::Bitcoin)
        );
        // not wallets: a sha256 digest, an identifier, a too-short Monero-like run
        assert_eq!(
            classify("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            None
        );
        assert_eq!(classify("SomeVeryLongIdentifierNameWithoutDigits"), None);
        assert_eq!(classify(&XMR[..94]), None);
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten_address(XMR), "44K7L8BU…MUp");
        let s = format!("--user {XMR}.rig1 --pass x");
        assert_eq!(shorten_wallets(&s), "--user 44K7L8BU…MUp.rig1 --pass x");
    }

    #[test]
    fn evidence_is_bounded_and_shortened() {
        let long = format!("{} ./xmrig -u {XMR} {}", "a ".repeat(100), "b ".repeat(200));
        let at = long.find("./xmrig").unwrap();
        let e = evidence(&long, at, at + 7, true);
        assert!(e.chars().count() <= MAX_EVIDENCE_CHARS, "{e}");
        assert!(e.starts_with("decoded: …"), "{e}");
        assert!(e.contains("./xmrig -u 44K7L8BU…MUp"), "{e}");
        assert!(!e.contains(XMR));
        let t = "ünïcödé ./xmrig";
        let at = t.find("./xmrig").unwrap();
        let e = evidence(t, at, at + 7, false);
        assert_eq!(e, "ünïcödé ./xmrig");
    }
}
