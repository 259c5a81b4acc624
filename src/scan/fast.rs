//! Fast paths of `scan` for the shapes manifests nearly always have:
//!
//! - [`json_find`]: where a field path is in a JSON text, by walking the text (no tree);
//! - [`yaml_to_json`]: block-style YAML (mappings, sequences, plain and quoted scalars,
//!   flow collections, literal and folded block scalars, comments) transcoded to JSON text,
//!   with a map from JSON offsets back to YAML lines, so that the lean JSON decoder reads
//!   YAML too. Anything else (anchors, aliases, tags, complex keys, multi-line plain or
//!   quoted scalars, tabs, directives) returns `None`, and the full YAML parser takes over.
//!
//! Both are checked against the full parsers by property tests.

use crate::detect::{FieldPath, Segment};

// ------------------------------------------------------------------ JSON field lookup

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End of the JSON string starting at `i` (an opening quote), after its closing quote.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// End of the JSON value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    let i = skip_ws(b, i);
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Decodes the JSON string at `i` (no escapes expected in keys; escapes are decoded).
fn string_at(b: &[u8], i: usize) -> Option<(String, usize)> {
    let end = skip_string(b, i)?;
    let raw = std::str::from_utf8(&b[i..end]).ok()?;
    let s: String = if raw.contains('\\') {
        serde_json::from_str(raw).ok()?
    } else {
        raw[1..raw.len() - 1].to_string()
    };
    Some((s, end))
}

/// Byte offset of the deepest value of `path` that exists in the JSON `text`, and whether
/// the whole path was found.
pub fn json_find(text: &str, path: &FieldPath) -> Option<(usize, bool)> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    let mut found: Option<usize> = None;
    for seg in path.segments() {
        match (b.get(i)?, seg) {
            (b'{', Segment::Field(_) | Segment::Key(_)) => {
                let want: &str = match seg {
                    Segment::Field(f) => f,
                    Segment::Key(k) => k,
                    Segment::Index(_) => return found.map(|f| (f, false)),
                };
                let mut j = skip_ws(b, i + 1);
                let mut hit = None;
                while j < b.len() && b[j] != b'}' {
                    let (key, after) = string_at(b, j)?;
                    let colon = skip_ws(b, after);
                    if b.get(colon) != Some(&b':') {
                        return None;
                    }
                    let v = skip_ws(b, colon + 1);
                    if key == want {
                        hit = Some(v);
                        break;
                    }
                    j = skip_ws(b, skip_value(b, v)?);
                    if b.get(j) == Some(&b',') {
                        j = skip_ws(b, j + 1);
                    }
                }
                match hit {
                    Some(v) => {
                        i = v;
                        found = Some(v);
                    }
                    None => return found.map(|f| (f, false)),
                }
            }
            (b'[', Segment::Index(n)) => {
                let mut j = skip_ws(b, i + 1);
                let mut k = 0;
                while j < b.len() && b[j] != b']' && k < *n {
                    j = skip_ws(b, skip_value(b, j)?);
                    if b.get(j) == Some(&b',') {
                        j = skip_ws(b, j + 1);
                    }
                    k += 1;
                }
                if j >= b.len() || b[j] == b']' {
                    return found.map(|f| (f, false));
                }
                i = j;
                found = Some(j);
            }
            _ => return found.map(|f| (f, false)),
        }
    }
    found.map(|f| (f, true))
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = 1 + before.iter().filter(|&&c| c == b'\n').count() as u64;
    let col = 1 + before.iter().rev().take_while(|&&c| c != b'\n').count() as u64;
    (line, col)
}

// ------------------------------------------------------------------ YAML subset → JSON

/// JSON text of a YAML document, and for each JSON value start (ascending), the 1-based
/// line of the YAML node it came from.
#[derive(Debug)]
pub struct Transcoded {
    pub json: String,
    lines: Vec<(usize, u32)>,
}

impl Transcoded {
    /// The YAML line of the JSON value starting at (or containing) `offset`.
    pub fn line_of(&self, offset: usize) -> Option<u64> {
        let k = self.lines.partition_point(|(o, _)| *o <= offset);
        k.checked_sub(1).map(|k| u64::from(self.lines[k].1))
    }
}

struct Line<'a> {
    /// 1-based line number.
    no: u32,
    indent: usize,
    /// The content after the indentation, comment removed, trailing spaces trimmed.
    text: &'a str,
}

/// The content of a line without its comment (a `#` after whitespace, outside quotes).
fn strip_comment(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if q == b'"' && c == b'\\' {
                    i += 2;
                    continue;
                }
                if c == q {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                }
            }
            None => {
                if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
                    return Some(s[..i].trim_end());
                }
                // a quote starts a quoted scalar only where a scalar can start
                if (c == b'"' || c == b'\'')
                    && (i == 0 || matches!(b[i - 1], b' ' | b'[' | b'{' | b',' | b':' | b'-'))
                {
                    quote = Some(c);
                }
            }
        }
        i += 1;
    }
    if quote.is_some() {
        // a quoted scalar that continues on the next line: not supported
        return None;
    }
    Some(s.trim_end())
}

struct Writer<'a> {
    lines: Vec<Line<'a>>,
    raw: Vec<&'a str>,
    out: String,
    map: Vec<(usize, u32)>,
    /// Nodes written (a bound on work).
    nodes: usize,
    /// Current nesting (a bound on recursion).
    depth: usize,
}

/// Deepest nesting the fast path follows (deeper documents go to the full parser, which
/// bounds them itself).
const MAX_NESTING: usize = 64;

/// A plain scalar as JSON: null, booleans and numbers of the YAML 1.2 core schema,
/// anything else a string. `None` for what is not supported (`.inf`, octal, hex).
fn plain_json(s: &str, out: &mut String) -> Option<()> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => out.push_str("null"),
        "true" | "True" | "TRUE" => out.push_str("true"),
        "false" | "False" | "FALSE" => out.push_str("false"),
        // YAML 1.1 booleans: the full parser decides
        _ if matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        ) =>
        {
            return None;
        }
        _ => {
            let b = s.as_bytes();
            let digits = |x: &[u8]| !x.is_empty() && x.iter().all(u8::is_ascii_digit);
            let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
            if digits(unsigned.as_bytes()) {
                if unsigned.len() > 1 && unsigned.starts_with('0') {
                    return None; // leading zeros: octal in YAML 1.1, ambiguous
                }
                out.push_str(s.trim_start_matches('+'));
            } else if s.starts_with("0x") || s.starts_with("0o") || s.starts_with('.') {
                return None;
            } else if is_float(unsigned) {
                let t = s.trim_start_matches('+');
                // JSON wants a digit before and after the point
                let t = t.replace("-.", "-0.");
                let t = if t.starts_with('.') {
                    format!("0{t}")
                } else {
                    t
                };
                let t = t.replace(".e", ".0e").replace(".E", ".0E");
                let t = if t.ends_with('.') { format!("{t}0") } else { t };
                out.push_str(&t);
            } else {
                json_string(s, out);
            }
            let _ = b;
        }
    }
    Some(())
}

fn is_float(s: &str) -> bool {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(k) => (&s[..k], Some(&s[k + 1..])),
        None => (s, None),
    };
    let mant_ok = {
        let (int, frac) = match mant.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (mant, None),
        };
        let d = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
        match frac {
            Some(f) => d(int) && d(f) && !(int.is_empty() && f.is_empty()),
            None => !int.is_empty() && d(int),
        }
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok && (mant.contains('.') || exp.is_some())
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double-quoted YAML scalar body (without quotes) → its value.
fn double_quoted(body: &str) -> Option<String> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let c = *b.get(i + 1)?;
            let hex = |n: usize| -> Option<char> {
                let h = body.get(i + 2..i + 2 + n)?;
                char::from_u32(u32::from_str_radix(h, 16).ok()?)
            };
            let (ch, used): (char, usize) = match c {
                b'n' => ('\n', 2),
                b't' => ('\t', 2),
                b'r' => ('\r', 2),
                b'0' => ('\0', 2),
                b'"' => ('"', 2),
                b'\\' => ('\\', 2),
                b'/' => ('/', 2),
                b' ' => (' ', 2),
                b'e' => ('\u{1b}', 2),
                b'x' => (hex(2)?, 4),
                b'u' => (hex(4)?, 6),
                b'U' => (hex(8)?, 10),
                _ => return None,
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            i += used;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl<'a> Writer<'a> {
    fn mark(&mut self, line: u32) {
        self.map.push((self.out.len(), line));
    }

    /// A scalar or flow collection written on one line: `s` is the rest of the line.
    fn inline(&mut self, s: &str, line: u32) -> Option<()> {
        self.nodes += 1;
        self.mark(line);
        let first = s.as_bytes().first().copied();
        match first {
            Some(b'[' | b'{') => {
                let end = self.flow(s, 0, line)?;
                if !s[end..].trim().is_empty() {
                    return None;
                }
                Some(())
            }
            Some(b'"') => {
                let body = s.strip_prefix('"')?.strip_suffix('"')?;
                if body.ends_with('\\') && !body.ends_with("\\\\") {
                    return None;
                }
                json_string(&double_quoted(body)?, &mut self.out);
                Some(())
            }
            Some(b'\'') => {
                let body = s.strip_prefix('\'')?.strip_suffix('\'')?;
                json_string(&body.replace("''", "'"), &mut self.out);
                Some(())
            }
            Some(b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?') => None,
            _ => {
                if s.starts_with("- ") || s == "-" || s.contains(": ") || s.ends_with(':') {
                    return None;
                }
                plain_json(s, &mut self.out)
            }
        }
    }

    /// A flow collection at byte `i` of `s`; returns the index after it.
    fn flow(&mut self, s: &str, i: usize, line: u32) -> Option<usize> {
        let b = s.as_bytes();
        self.nodes += 1;
        if self.nodes > 100_000 {
            return None;
        }
        let (open, close) = match b.get(i)? {
            b'[' => (b'[', b']'),
            b'{' => (b'{', b'}'),
            _ => return None,
        };
        if self.depth >= MAX_NESTING {
            return None;
        }
        self.depth += 1;
        let r = self.flow_items(s, i, open, close, line);
        self.depth -= 1;
        r
    }

    fn flow_items(&mut self, s: &str, i: usize, open: u8, close: u8, line: u32) -> Option<usize> {
        let b = s.as_bytes();
        let skip = |mut j: usize| {
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            j
        };
        self.out.push(open as char);
        let mut j = skip(i + 1);
        let mut first = true;
        loop {
            if b.get(j)? == &close {
                self.out.push(close as char);
                return Some(j + 1);
            }
            if !first {
                if b[j] != b',' {
                    return None;
                }
                j = skip(j + 1);
                if b.get(j)? == &close {
                    self.out.push(close as char);
                    return Some(j + 1);
                }
                self.out.push(',');
            }
            first = false;
            if open == b'{' {
                let (key, after) = self.flow_scalar(s, j, true)?;
                json_string(&key, &mut self.out);
                j = skip(after);
                if b.get(j)? != &b':' {
                    return None;
                }
                self.out.push(':');
                j = skip(j + 1);
            }
            self.mark(line);
            match b.get(j)? {
                b'[' | b'{' => j = self.flow(s, j, line)?,
                _ => {
                    let start = self.out.len();
                    let (v, after, kind) = self.flow_value(s, j)?;
                    match kind {
                        0 => plain_json(&v, &mut self.out)?,
                        _ => json_string(&v, &mut self.out),
                    }
                    let _ = start;
                    j = after;
                }
            }
            j = skip(j);
        }
    }

    /// A scalar inside a flow collection: (text, end, 0 = plain / 1 = quoted).
    fn flow_value(&mut self, s: &str, j: usize) -> Option<(String, usize, u8)> {
        let b = s.as_bytes();
        match b.get(j)? {
            b'"' | b'\'' => {
                let (v, end) = self.flow_scalar(s, j, false)?;
                Some((v, end, 1))
            }
            b'&' | b'*' | b'!' | b'?' => None,
            _ => {
                let mut k = j;
                while k < b.len() && !matches!(b[k], b',' | b']' | b'}') {
                    if b[k] == b':' && b.get(k + 1) == Some(&b' ') {
                        return None; // a mapping inside a sequence: not supported
                    }
                    k += 1;
                }
                Some((s[j..k].trim_end().to_string(), k, 0))
            }
        }
    }

    /// A key or quoted scalar in a flow collection.
    fn flow_scalar(&mut self, s: &str, j: usize, key: bool) -> Option<(String, usize)> {
        let b = s.as_bytes();
        match b.get(j)? {
            b'"' => {
                let mut k = j + 1;
                while k < b.len() && b[k] != b'"' {
                    if b[k] == b'\\' {
                        k += 1;
                    }
                    k += 1;
                }
                let body = s.get(j + 1..k)?;
                Some((double_quoted(body)?, k + 1))
            }
            b'\'' => {
                let mut k = j + 1;
                loop {
                    if k >= b.len() {
                        return None;
                    }
                    if b[k] == b'\'' {
                        if b.get(k + 1) == Some(&b'\'') {
                            k += 2;
                            continue;
                        }
                        break;
                    }
                    k += 1;
                }
                Some((s[j + 1..k].replace("''", "'"), k + 1))
            }
            _ if key => {
                let mut k = j;
                while k < b.len()
                    && !(b[k] == b':' && matches!(b.get(k + 1), Some(b' ') | None))
                    && !matches!(b[k], b',' | b'}')
                {
                    k += 1;
                }
                let k2 = k;
                let t = s[j..k2].trim_end();
                if t.is_empty() || t.starts_with(['&', '*', '!', '?', '[', '{']) {
                    return None;
                }
                Some((t.to_string(), k2))
            }
            _ => None,
        }
    }

    /// A block scalar (`|`, `|-`, `>`, ...) whose header is `header`, body the lines after
    /// line index `at` more indented than `parent`. Returns the index of the next line.
    fn block_scalar(&mut self, header: &str, at: usize, parent: usize) -> Option<usize> {
        let folded = header.starts_with('>');
        let rest = &header[1..];
        let (chomp, explicit): (char, Option<usize>) = {
            let mut chomp = 'c';
            let mut ind = None;
            for c in rest.chars() {
                match c {
                    '-' => chomp = '-',
                    '+' => chomp = '+',
                    '1'..='9' => ind = Some(c as usize - '0' as usize),
                    _ => return None,
                }
            }
            (chomp, ind)
        };
        // raw lines (comments inside are content)
        let mut j = at + 1;
        let first_no = self.lines.get(at)?.no as usize; // 1-based line of the header
        let mut body_lines: Vec<&str> = Vec::new();
        let mut indent: Option<usize> = explicit.map(|e| parent + e);
        let mut raw_i = first_no; // index into raw (0-based) of the first body line
        while raw_i < self.raw.len() {
            let l = self.raw[raw_i];
            let trimmed = l.trim_end_matches('\r');
            let ind = trimmed.len() - trimmed.trim_start_matches(' ').len();
            if trimmed.trim().is_empty() {
                body_lines.push("");
                raw_i += 1;
                continue;
            }
            if trimmed.starts_with('\t') || trimmed[ind..].starts_with('\t') && ind == 0 {
                return None;
            }
            let need = match indent {
                Some(i) => i,
                None => {
                    if ind <= parent {
                        break;
                    }
                    indent = Some(ind);
                    ind
                }
            };
            if ind < need {
                break;
            }
            body_lines.push(&trimmed[need..]);
            raw_i += 1;
        }
        // trailing blank lines belong to chomping
        let mut trailing = 0;
        while body_lines.last() == Some(&"") {
            body_lines.pop();
            trailing += 1;
        }
        let mut value = String::new();
        if folded {
            let mut prev_blank = false;
            let mut prev_more = false;
            for (k, l) in body_lines.iter().enumerate() {
                let more = l.starts_with(' ') || l.starts_with('\t');
                if k > 0 {
                    if l.is_empty() {
                        value.push('\n');
                    } else if prev_blank || more || prev_more {
                        if !prev_blank {
                            value.push('\n');
                        }
                    } else {
                        value.push(' ');
                    }
                }
                value.push_str(l);
                prev_blank = l.is_empty();
                prev_more = more;
            }
            if body_lines.iter().any(|l| l.starts_with(' ')) {
                return None; // more-indented folded lines: left to the full parser
            }
        } else {
            value = body_lines.join("\n");
        }
        if !body_lines.is_empty() {
            match chomp {
                '-' => {}
                '+' => {
                    value.push('\n');
                    for _ in 0..trailing {
                        value.push('\n');
                    }
                }
                _ => value.push('\n'),
            }
        }
        json_string(&value, &mut self.out);
        // skip the logical lines the block scalar covered
        while j < self.lines.len() && (self.lines[j].no as usize) <= raw_i {
            j += 1;
        }
        Some(j)
    }

    /// The block node starting at line `i` (with indentation `indent`); returns the next
    /// line index.
    fn block(&mut self, i: usize, indent: usize) -> Option<usize> {
        self.nodes += 1;
        if self.nodes > 100_000 {
            return None;
        }
        if self.depth >= MAX_NESTING {
            return None;
        }
        self.depth += 1;
        let line = self.lines.get(i)?;
        let r = if line.text.starts_with("- ") || line.text == "-" {
            self.sequence(i, indent)
        } else {
            self.mapping(i, indent)
        };
        self.depth -= 1;
        r
    }

    fn sequence(&mut self, mut i: usize, indent: usize) -> Option<usize> {
        self.mark(self.lines[i].no);
        self.out.push('[');
        let mut first = true;
        while i < self.lines.len() {
            let l = &self.lines[i];
            if l.indent != indent || !(l.text.starts_with("- ") || l.text == "-") {
                if l.indent > indent {
                    return None;
                }
                break;
            }
            if !first {
                self.out.push(',');
            }
            first = false;
            let no = l.no;
            let rest = if l.text == "-" {
                ""
            } else {
                l.text[2..].trim_start()
            };
            let item_indent = indent + (l.text.len() - rest.len());
            if rest.is_empty() {
                // the item is the block below
                match self.lines.get(i + 1) {
                    Some(n) if n.indent > indent => {
                        let ni = n.indent;
                        i = self.block(i + 1, ni)?;
                    }
                    _ => {
                        self.mark(no);
                        self.out.push_str("null");
                        i += 1;
                    }
                }
                continue;
            }
            if rest.starts_with("- ") || rest.starts_with('?') {
                return None;
            }
            if let Some((k, v)) = split_key(rest) {
                // `- key: value` starts a mapping whose keys sit at `item_indent`
                let _ = (k, v);
                let saved = std::mem::replace(
                    &mut self.lines[i],
                    Line {
                        no,
                        indent: item_indent,
                        text: rest,
                    },
                );
                let r = self.mapping(i, item_indent);
                self.lines[i] = saved;
                i = r?;
                continue;
            }
            if rest.starts_with('|') || rest.starts_with('>') {
                self.mark(no);
                i = self.block_scalar(rest, i, indent)?;
                continue;
            }
            self.inline(rest, no)?;
            i += 1;
        }
        self.out.push(']');
        Some(i)
    }

    fn mapping(&mut self, mut i: usize, indent: usize) -> Option<usize> {
        self.mark(self.lines[i].no);
        self.out.push('{');
        let mut first = true;
        while i < self.lines.len() {
            let l = &self.lines[i];
            if l.indent != indent {
                if l.indent > indent {
                    return None;
                }
                break;
            }
            if l.text.starts_with("- ") || l.text == "-" {
                break;
            }
            let no = l.no;
            let (key, value) = split_key(l.text)?;
            let key = match key.as_bytes().first() {
                Some(b'"') => double_quoted(key.strip_prefix('"')?.strip_suffix('"')?)?,
                Some(b'\'') => key
                    .strip_prefix('\'')?
                    .strip_suffix('\'')?
                    .replace("''", "'"),
                Some(b'&' | b'*' | b'!' | b'?' | b'[' | b'{' | b'|' | b'>') => return None,
                _ => key.to_string(),
            };
            if !first {
                self.out.push(',');
            }
            first = false;
            json_string(&key, &mut self.out);
            self.out.push(':');
            if value.is_empty() {
                match self.lines.get(i + 1) {
                    // a nested block, or a sequence at the key's own indentation
                    Some(n)
                        if n.indent > indent
                            || (n.indent == indent
                                && (n.text.starts_with("- ") || n.text == "-")) =>
                    {
                        let ni = n.indent;
                        i = self.block(i + 1, ni)?;
                    }
                    _ => {
                        self.mark(no);
                        self.out.push_str("null");
                        i += 1;
                    }
                }
                continue;
            }
            if value.starts_with('|') || value.starts_with('>') {
                self.mark(no);
                i = self.block_scalar(value, i, indent)?;
                continue;
            }
            self.inline(value, no)?;
            i += 1;
        }
        self.out.push('}');
        Some(i)
    }
}

/// `key: value` / `key:` → (key, value); `None` when the line is not a mapping entry.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let end_of_key = match b.first()? {
        b'"' | b'\'' => {
            let q = b[0];
            let mut k = 1;
            while k < b.len() {
                if b[k] == b'\\' && q == b'"' {
                    k += 2;
                    continue;
                }
                if b[k] == q {
                    if q == b'\'' && b.get(k + 1) == Some(&b'\'') {
                        k += 2;
                        continue;
                    }
                    break;
                }
                k += 1;
            }
            k + 1
        }
        b'[' | b'{' => return None,
        _ => {
            let mut k = 0;
            loop {
                let c = s[k..].find(':')? + k;
                if c + 1 == b.len() || b[c + 1] == b' ' {
                    break c;
                }
                k = c + 1;
            }
        }
    };
    if b.get(end_of_key) != Some(&b':') {
        return None;
    }
    let key = s[..end_of_key].trim_end();
    let value = s[end_of_key + 1..].trim_start();
    Some((key, value))
}

/// Transcodes a YAML document in the supported subset to JSON; `None` otherwise.
pub fn yaml_to_json(doc: &str) -> Option<Transcoded> {
    let mut raw: Vec<&str> = doc.split('\n').collect();
    if raw.last() == Some(&"") {
        raw.pop();
    }
    let mut lines = Vec::with_capacity(raw.len());
    for (k, l) in raw.iter().enumerate() {
        let l = l.trim_end_matches('\r');
        let content = l.trim_start_matches(' ');
        if content.starts_with('\t') {
            return None;
        }
        let indent = l.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if (content.starts_with('%') || content.starts_with("---") || content.starts_with("..."))
            && indent == 0
        {
            return None;
        }
        let text = strip_comment(content)?;
        if text.is_empty() {
            continue;
        }
        lines.push(Line {
            no: u32::try_from(k + 1).ok()?,
            indent,
            text,
        });
    }
    let mut w = Writer {
        lines,
        raw,
        out: String::with_capacity(doc.len() + doc.len() / 4),
        map: Vec::new(),
        nodes: 0,
        depth: 0,
    };
    if w.lines.is_empty() {
        return None;
    }
    let first = w.lines[0].indent;
    let top_is_scalar = {
        let t = w.lines[0].text;
        !(t.starts_with("- ") || t == "-" || split_key(t).is_some())
    };
    if top_is_scalar {
        return None;
    }
    let end = w.block(0, first)?;
    if end != w.lines.len() {
        return None;
    }
    Some(Transcoded {
        json: w.out,
        lines: w.map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn same_as_full_parser(doc: &str) {
        let t = yaml_to_json(doc).unwrap_or_else(|| panic!("not transcoded:\n{doc}"));
        let fast: Value =
            serde_json::from_str(&t.json).unwrap_or_else(|e| panic!("{e}: {}", t.json));
        let full: Value = serde_saphyr::from_str(doc).unwrap();
        assert_eq!(fast, full, "{doc}\n{}", t.json);
    }

    #[test]
    fn manifests_transcode_like_the_full_parser() {
        same_as_full_parser(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p  # a comment\n  labels:\n    app: web\n    'quoted key': \"v: 1\"\nspec:\n  containers:\n  - name: c\n    image: \"nginx:1.27\"\n    command: [\"sh\", '-c', plain]\n    args:\n      - --port=80\n      - 'it''s'\n    env:\n    - {name: A, value: \"1\"}\n    - name: B\n      value: |\n        line one\n        line two\n    resources:\n      limits: {cpu: 500m, nvidia.com/gpu: 1}\n    ports:\n    - containerPort: 8080\n      protocol: TCP\n  nodeSelector: {}\n  tolerations: []\n",
        );
        same_as_full_parser(
            "a:\n- 1\n- -2\n- 3.5\n- true\n- null\n- ~\n- \"\\t\\u00e9\"\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  keep\n\n",
        );
        same_as_full_parser("yes: 'no'\nx: 1e3\ny: '+5'\nz: +5\nw: 1.\nv: -0.5\nu: 007x\n");
    }

    #[test]
    fn unsupported_shapes_fall_back() {
        let deep_flow = format!("a: {}{}\n", "[".repeat(1000), "]".repeat(1000));
        let deep_block: String = (0..1000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        for doc in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "? complex\n: key\n",
            "a: multi\n  line plain\n",
            "a: \"open\n  quote\"\n",
            "%YAML 1.2\n---\na: 1\n",
            "\ta: 1\n",
            "just a scalar\n",
            "a: 0x1f\n",
            "a: .inf\n",
            "list:\n  - - nested\n",
            "a: no\n",
            deep_flow.as_str(),
            deep_block.as_str(),
        ] {
            assert!(yaml_to_json(doc).is_none(), "{doc}");
        }
    }

    #[test]
    fn lines_map_back() {
        let doc =
            "kind: Pod\nspec:\n  containers:\n  - name: c\n    command:\n    - sh\n    - -c\n";
        let t = yaml_to_json(doc).unwrap();
        let path = FieldPath::parse("spec.containers[0].command[1]").unwrap();
        let (off, whole) = json_find(&t.json, &path).unwrap();
        assert!(whole);
        assert_eq!(t.line_of(off), Some(7));
        let path = FieldPath::parse("spec.containers[0].args[3]").unwrap();
        let (off, whole) = json_find(&t.json, &path).unwrap();
        assert!(!whole);
        assert_eq!(t.line_of(off), Some(4));
    }

    #[test]
    fn json_find_walks_text() {
        let text = "{\n  \"spec\": {\n    \"a\": [1, {\"x\": \"y\\\"z\"}, 3],\n    \"containers\": [\n      {\"name\": \"x\",\n       \"image\": \"xmrig\"}]}}";
        let p = FieldPath::parse("spec.containers[0].image").unwrap();
        let (off, whole) = json_find(text, &p).unwrap();
        assert!(whole);
        assert_eq!(line_col(text, off).0, 6);
        let p = FieldPath::parse("spec.a[1].x").unwrap();
        assert!(json_find(text, &p).unwrap().1);
        assert_eq!(
            json_find(text, &FieldPath::parse("nothing.here").unwrap()),
            None
        );
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9./-]{0,10}",
            "[0-9]{1,5}",
            "-?[1-9][0-9]{0,3}\\.[0-9]{1,3}",
            Just("true".to_string()),
            Just("null".to_string()),
            "\"[a-z :#'{}\\[\\],-]{0,12}\"",
            "'[a-z :#\"{}\\[\\],-]{0,12}'",
        ]
    }

    fn node(depth: u32) -> BoxedStrategy<Value> {
        let leaf = scalar().prop_map(|s| {
            let v: Value = serde_saphyr::from_str(&format!("x: {s}\n")).unwrap_or(Value::Null);
            v.get("x").cloned().unwrap_or(Value::Null)
        });
        if depth == 0 {
            return leaf.boxed();
        }
        prop_oneof![
            leaf,
            proptest::collection::vec(node(depth - 1), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("k[a-z]{0,5}", node(depth - 1), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
        .boxed()
    }

    /// A scalar as YAML: plain when it reads back as the same string, else JSON-quoted.
    fn scalar_yaml(v: &Value) -> String {
        if let Value::String(s) = v
            && !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"./-".contains(&c))
            && s.as_bytes()[0].is_ascii_lowercase()
            && !matches!(
                s.as_str(),
                "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
            )
        {
            return s.clone();
        }
        serde_json::to_string(v).unwrap_or_default()
    }

    fn to_yaml(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    match x {
                        Value::Object(mm) if !mm.is_empty() => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            to_yaml(x, indent + 2, out);
                        }
                        Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            to_yaml(x, indent, out);
                        }
                        _ => out.push_str(&format!("{pad}{k}: {}\n", scalar_yaml(x))),
                    }
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for x in a {
                    match x {
                        Value::Object(mm) if !mm.is_empty() => {
                            out.push_str(&format!("{pad}-\n"));
                            to_yaml(x, indent + 2, out);
                        }
                        Value::Array(aa) if !aa.is_empty() => {
                            out.push_str(&format!(
                                "{pad}- {}\n",
                                serde_json::to_string(x).unwrap_or_default()
                            ));
                        }
                        _ => out.push_str(&format!("{pad}- {}\n", scalar_yaml(x))),
                    }
                }
            }
            other => out.push_str(&format!(
                "{pad}{}\n",
                serde_json::to_string(other).unwrap_or_default()
            )),
        }
    }

    proptest! {
        /// Block YAML written from random values transcodes to the values the full parser reads.
        #[test]
        fn prop_agrees_with_the_full_parser(m in proptest::collection::btree_map("k[a-z]{0,5}", node(3), 1..5)) {
            let v = Value::Object(m.into_iter().collect());
            let mut doc = String::new();
            to_yaml(&v, 0, &mut doc);
            if let Some(t) = yaml_to_json(&doc) {
                let fast: Value = serde_json::from_str(&t.json).unwrap();
                let full: Value = serde_saphyr::from_str(&doc).unwrap();
                prop_assert_eq!(fast, full, "{}\n{}", doc, t.json);
            }
        }

        /// Arbitrary text never panics; whatever transcodes is valid JSON.
        #[test]
        fn prop_arbitrary_text(s in "[a-z:\\- \\n'\"#\\[\\]{},|>&*!]{0,120}") {
            if let Some(t) = yaml_to_json(&s) {
                prop_assert!(serde_json::from_str::<Value>(&t.json).is_ok(), "{:?} -> {}", s, t.json);
            }
        }
    }
}
