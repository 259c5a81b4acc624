//! Payload decoding with bounded work: base64 (standard and URL-safe, padding optional),
//! base32, hex, printf/`echo -e` escapes, ROT13, reversal, and gzip / zlib / raw-deflate
//! decompression with a size cap and a ratio cap (a decompression bomb is refused, not
//! inflated).

use std::io::Read;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Largest output of one decoding step.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;
/// Largest decompression ratio accepted once the output passes [`RATIO_FREE`] bytes.
pub(crate) const MAX_RATIO: usize = 100;
/// Output size below which any ratio is accepted (small payloads compress well).
pub(crate) const RATIO_FREE: usize = 64 * 1024;

/// One decoding step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Base64,
    Base32,
    Hex,
    /// `\xHH`, `\NNN`, `\uHHHH` escapes (printf, `echo -e`).
    Escapes,
    Rot13,
    Reverse,
    /// gzip or zlib, told apart by their header; `RawDeflate` for headerless streams.
    Inflate,
    RawDeflate,
    /// A compressor cryptojack cannot undo (bzip2, xz, zstd, lz4): the payload is reported
    /// as not inspected.
    Unsupported(&'static str),
}

/// Why a payload was not (fully) decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The output would exceed [`MAX_PAYLOAD`] or the caller's remaining budget.
    TooLarge(usize),
    /// Decompression beyond [`MAX_RATIO`].
    Ratio,
    Unsupported(&'static str),
    /// Not valid input for the step (not base64, corrupt stream): not a payload at all.
    Invalid,
}

impl Refused {
    /// Evidence wording.
    pub(crate) fn describe(&self) -> String {
        match self {
            Refused::TooLarge(n) => format!("payload larger than the {n}-byte inspection bound"),
            Refused::Ratio => format!("compressed payload expands more than {MAX_RATIO}x"),
            Refused::Unsupported(what) => format!("{what}-compressed payload"),
            Refused::Invalid => "invalid payload".to_string(),
        }
    }
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

fn strip_blanks(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A word that could be a base64 payload: long enough, only base64 characters (and line
/// breaks, as `base64` wraps at 76 columns).
pub(crate) fn looks_base64(w: &str) -> bool {
    let mut n = 0usize;
    for b in w.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' | b'-' | b'_' => n += 1,
            b'\n' | b'\r' | b' ' | b'\t' => {}
            _ => return false,
        }
    }
    n >= 16
}

/// A word of hex digits (whitespace allowed), an even number of them, at least 8.
pub(crate) fn looks_hex(w: &str) -> bool {
    let mut n = 0usize;
    for b in w.bytes() {
        match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => n += 1,
            b'\n' | b'\r' | b' ' | b'\t' => {}
            _ => return false,
        }
    }
    n >= 8 && n.is_multiple_of(2)
}

/// Whether a word holds at least two `\xHH` / `\NNN` escapes (an encoded printf argument).
pub(crate) fn has_escapes(w: &str) -> bool {
    let b = w.as_bytes();
    let mut n = 0;
    for i in 0..b.len().saturating_sub(1) {
        if b[i] == b'\\' && (b[i + 1] == b'x' || (b'0'..=b'7').contains(&b[i + 1])) {
            n += 1;
            if n >= 2 {
                return true;
            }
        }
    }
    false
}

fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(input).ok()?;
    let s = strip_blanks(s.trim());
    STANDARD
        .decode(s.as_bytes())
        .or_else(|_| URL_SAFE.decode(s.as_bytes()))
        .ok()
}

fn base32(input: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(input).ok()?;
    let s = strip_blanks(s.trim());
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex(input: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    digits
        .chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

fn escapes(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'\\' && i + 1 < input.len() {
            let (bytes, used) = super::shell::decode_escape(&input[i + 1..]);
            out.extend_from_slice(&bytes);
            i += 1 + used.max(1);
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn rot13(input: &[u8]) -> Vec<u8> {
    input
        .iter()
        .map(|&c| match c {
            b'a'..=b'z' => (c - b'a' + 13) % 26 + b'a',
            b'A'..=b'Z' => (c - b'A' + 13) % 26 + b'A',
            _ => c,
        })
        .collect()
}

/// gzip (`1f 8b`) or zlib (`78 01|5e|9c|da`) header.
pub(crate) fn compressed_kind(b: &[u8]) -> Option<Step> {
    match b {
        [0x1f, 0x8b, ..] => Some(Step::Inflate),
        [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => Some(Step::Inflate),
        [b'B', b'Z', b'h', ..] => Some(Step::Unsupported("bzip2")),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Step::Unsupported("xz")),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Step::Unsupported("zstd")),
        _ => None,
    }
}

fn read_capped(mut r: impl Read, cap: usize, input_len: usize) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|_| Refused::Invalid)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > cap {
            return Err(Refused::TooLarge(cap));
        }
        if out.len() > RATIO_FREE && out.len() > input_len.saturating_mul(MAX_RATIO) {
            return Err(Refused::Ratio);
        }
    }
}

fn inflate(input: &[u8], cap: usize, raw: bool) -> Result<Vec<u8>, Refused> {
    if raw {
        return read_capped(flate2::read::DeflateDecoder::new(input), cap, input.len());
    }
    match input {
        [0x1f, 0x8b, ..] => read_capped(flate2::read::MultiGzDecoder::new(input), cap, input.len()),
        _ => read_capped(flate2::read::ZlibDecoder::new(input), cap, input.len()),
    }
}

/// Applies one step to `input`, producing at most `cap` bytes.
pub(crate) fn apply(step: Step, input: &[u8], cap: usize) -> Result<Vec<u8>, Refused> {
    let cap = cap.min(MAX_PAYLOAD);
    let out = match step {
        Step::Base64 => base64(input).ok_or(Refused::Invalid)?,
        Step::Base32 => base32(input).ok_or(Refused::Invalid)?,
        Step::Hex => hex(input).ok_or(Refused::Invalid)?,
        Step::Escapes => escapes(input),
        Step::Rot13 => rot13(input),
        Step::Reverse => {
            let mut v = String::from_utf8_lossy(input).chars().collect::<Vec<_>>();
            v.reverse();
            v.into_iter().collect::<String>().into_bytes()
        }
        Step::Inflate => return inflate(input, cap, false),
        Step::RawDeflate => return inflate(input, cap, true),
        Step::Unsupported(what) => return Err(Refused::Unsupported(what)),
    };
    if out.len() > cap {
        return Err(Refused::TooLarge(cap));
    }
    Ok(out)
}

/// What decoded bytes turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Mostly printable text (a script, code, a config).
    Text(String),
    /// An ELF executable.
    Elf(usize),
    /// Other binary data (a certificate, an image): not a payload to inspect.
    Binary,
}

/// Classifies decoded bytes.
pub(crate) fn classify(bytes: Vec<u8>) -> Decoded {
    if bytes.starts_with(b"\x7fELF") {
        return Decoded::Elf(bytes.len());
    }
    if bytes.is_empty() {
        return Decoded::Binary;
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let mut total = 0usize;
    let mut printable = 0usize;
    for c in text.chars() {
        total += 1;
        if !c.is_control() || matches!(c, '\n' | '\t' | '\r') {
            printable += 1;
        }
    }
    if printable * 10 >= total * 9 {
        Decoded::Text(text)
    } else {
        Decoded::Binary
    }
}

/// Decodes `input` through `steps`, then undoes gzip/zlib found by its header (at most
/// twice; bytes that only start like a header are kept as they are), all within `budget`
/// output bytes (decremented). `Ok(None)` when a step does not apply (the input is not
/// encoded that way).
pub(crate) fn decode_chain(
    input: &[u8],
    steps: &[Step],
    budget: &mut usize,
) -> Result<Option<Decoded>, Refused> {
    let mut cur: Vec<u8> = input.to_vec();
    for &step in steps {
        cur = match apply(step, &cur, *budget) {
            Ok(v) => v,
            Err(Refused::Invalid) => return Ok(None),
            Err(e) => return Err(e),
        };
    }
    for _ in 0..2 {
        match compressed_kind(&cur) {
            Some(step) => {
                cur = match apply(step, &cur, *budget) {
                    Ok(v) => v,
                    // a header by coincidence (decoded bytes that merely start like zlib):
                    // the layer decoded so far stands
                    Err(Refused::Invalid) => break,
                    Err(e) => return Err(e),
                };
            }
            None => break,
        }
    }
    *budget = budget.saturating_sub(cur.len());
    Ok(Some(classify(cur)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    #[test]
    fn layers_decode_within_budget() {
        let script = b"cd /tmp && ./xmrig -o pool.example:3333";
        let mut budget = 1 << 20;
        let encoded = b64(&gzip(script));
        assert_eq!(
            decode_chain(encoded.as_bytes(), &[Step::Base64], &mut budget),
            Ok(Some(Decoded::Text(
                String::from_utf8_lossy(script).into_owned()
            )))
        );
        let encoded = b64(&zlib(script));
        assert!(matches!(
            decode_chain(encoded.as_bytes(), &[Step::Base64], &mut budget),
            Ok(Some(Decoded::Text(t))) if t.contains("xmrig")
        ));
        let hexed: String = script.iter().map(|b| format!("{b:02x}")).collect();
        assert!(matches!(
            decode_chain(hexed.as_bytes(), &[Step::Hex], &mut budget),
            Ok(Some(Decoded::Text(t))) if t.contains("xmrig")
        ));
        assert!(budget < 1 << 20);
    }

    #[test]
    fn bombs_and_budget_are_refused() {
        let zeros = vec![b'a'; 8 << 20];
        let bomb = b64(&gzip(&zeros));
        let mut budget = 1 << 20;
        assert_eq!(
            decode_chain(bomb.as_bytes(), &[Step::Base64], &mut budget),
            Err(Refused::Ratio)
        );
        let mut small = 100;
        let text = b64(&[b'x'; 200]);
        assert_eq!(
            decode_chain(text.as_bytes(), &[Step::Base64], &mut small),
            Err(Refused::TooLarge(100))
        );
        assert_eq!(
            decode_chain(b"QlpoOTFBWSZTWQ==", &[Step::Base64], &mut budget),
            Err(Refused::Unsupported("bzip2"))
        );
    }

    #[test]
    fn other_steps() {
        let mut budget = 1 << 20;
        let d = |input: &str, steps: &[Step], budget: &mut usize| match decode_chain(
            input.as_bytes(),
            steps,
            budget,
        ) {
            Ok(Some(Decoded::Text(t))) => t,
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(
            d(r"\x2e\x2f\x78\155rig", &[Step::Escapes], &mut budget),
            "./xmrig"
        );
        assert_eq!(
            d("tzekl/cgz/.", &[Step::Reverse], &mut budget),
            "./zgc/lkezt"
        );
        assert_eq!(d("kzevt", &[Step::Rot13], &mut budget), "xmrig");
        assert_eq!(d("PBSWY3DP", &[Step::Base32], &mut budget), "xello");
        assert_eq!(
            decode_chain(b"not base64!", &[Step::Base64], &mut budget),
            Ok(None)
        );
        let elf = b64(b"\x7fELF\x02\x01\x01\x00rest of the binary");
        assert!(matches!(
            decode_chain(elf.as_bytes(), &[Step::Base64], &mut budget),
            Ok(Some(Decoded::Elf(_)))
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// base64 and gzip-in-base64 round-trip any text.
            #[test]
            fn prop_round_trips(text in "\\PC{1,400}") {
                let mut budget = 1 << 20;
                let want = Decoded::Text(text.clone());
                let got = decode_chain(b64(text.as_bytes()).as_bytes(), &[Step::Base64], &mut budget);
                if text.chars().all(|c| !c.is_control()) {
                    prop_assert_eq!(got, Ok(Some(want.clone())));
                    let got = decode_chain(b64(&gzip(text.as_bytes())).as_bytes(), &[Step::Base64], &mut budget);
                    prop_assert_eq!(got, Ok(Some(want.clone())));
                    let hexed: String = text.bytes().map(|b| format!("{b:02X}")).collect();
                    let got = decode_chain(hexed.as_bytes(), &[Step::Hex], &mut budget);
                    prop_assert_eq!(got, Ok(Some(want)));
                }
            }

            /// Arbitrary input never panics and never exceeds the budget.
            #[test]
            fn prop_arbitrary_input_is_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2000),
                                          cap in 0usize..5000) {
                let start = std::time::Instant::now();
                for steps in [
                    &[Step::Base64][..], &[Step::Hex], &[Step::Base32], &[Step::Escapes],
                    &[Step::Inflate], &[Step::RawDeflate], &[Step::Base64, Step::Inflate],
                ] {
                    let mut budget = cap;
                    if let Ok(Some(Decoded::Text(t))) = decode_chain(&bytes, steps, &mut budget) {
                        prop_assert!(t.len() <= cap.max(1) * 4);
                    }
                    prop_assert!(budget <= cap);
                }
                prop_assert!(start.elapsed() < std::time::Duration::from_secs(2));
            }

            /// Any valid base64 of gzip of random bytes decodes or is refused, within bounds.
            #[test]
            fn prop_random_gzip_payloads(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
                let mut budget = 4096;
                let r = decode_chain(b64(&gzip(&bytes)).as_bytes(), &[Step::Base64], &mut budget);
                match r {
                    Ok(Some(_)) => prop_assert!(bytes.len() <= 4096),
                    Ok(None) => prop_assert!(false, "valid gzip reported as invalid"),
                    Err(Refused::TooLarge(_)) => prop_assert!(gzip(&bytes).len() > 4096 || bytes.len() > 4096),
                    Err(e) => prop_assert!(false, "{:?}", e),
                }
            }
        }
    }
}
