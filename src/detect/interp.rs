//! Interpreter one-liners (`python -c`, `perl -e`, `ruby -e`, `node -e`, `php -r`, `lua -e`,
//! `Rscript -e`, `awk '...'`): what the code runs.
//!
//! Not a parser of any of these languages: a tokenizer that knows their string literals and
//! comments, and a walk over calls and brackets that finds
//! - argument lists handed to a process-starting call (`Popen(['/tmp/x', '-o', ...])`,
//!   `spawn('/tmp/x', ['-o', ...])`, `system('/tmp/x', '-o', ...)`),
//! - command lines handed to a shell (`os.system('...')`, backticks, `qx{...}`, `%x(...)`),
//! - code handed back to the interpreter (`exec(...)`, `eval(...)`),
//! - literals run through decoders (`b64decode`, `unhexlify`, `zlib.decompress`,
//!   `Buffer.from(s, 'base64')`, `'...'.unpack('m')`, `gzinflate`, `str_rot13`, `[::-1]`...),
//! - string building from pieces (`'xm' + 'rig'`, `chr(120).chr(109)`,
//!   `String.fromCharCode(120, 109)`),
//! - and literals or lists of literals that look like a command but are not handed to a
//!   known call (`cmd = ['/tmp/x', '-o', ...]`), reported as loose.

use super::decode::Step;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Python,
    Perl,
    Ruby,
    Node,
    Php,
    Lua,
    R,
    Awk,
}

/// What the code runs or holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A program and its arguments.
    Argv(Vec<String>),
    /// A shell command line.
    Script(String),
    /// Code in the same language (handed to `eval`/`exec`).
    Code(String),
    /// Text to decode through `steps` (in order), then inspect as code, script and data.
    Encoded {
        text: String,
        steps: Vec<Step>,
    },
    /// A literal (or list of literals) that looks like a command but is not handed to a
    /// known call.
    LooseArgv(Vec<String>),
    LooseScript(String),
}

/// The interpreter a program name runs and the option that takes inline code.
pub(crate) fn interpreter(base: &str) -> Option<Lang> {
    let b = base.trim_end_matches(".exe");
    let starts = |p: &str| {
        b.strip_prefix(p).is_some_and(|rest| {
            rest.is_empty() || rest.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        })
    };
    if starts("python") || starts("pypy") || b == "pypy3" {
        return Some(Lang::Python);
    }
    if starts("perl") {
        return Some(Lang::Perl);
    }
    if starts("ruby") || b == "jruby" {
        return Some(Lang::Ruby);
    }
    if matches!(b, "node" | "nodejs" | "bun" | "deno") {
        return Some(Lang::Node);
    }
    if starts("php") || starts("php-cli") {
        return Some(Lang::Php);
    }
    if starts("lua") || b == "luajit" {
        return Some(Lang::Lua);
    }
    if matches!(b, "Rscript" | "R") {
        return Some(Lang::R);
    }
    if matches!(b, "awk" | "gawk" | "mawk" | "nawk") {
        return Some(Lang::Awk);
    }
    None
}

/// Options taking inline code, per language.
pub(crate) fn code_options(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Python => &["-c"],
        Lang::Perl => &["-e", "-E"],
        Lang::Ruby => &["-e"],
        Lang::Node => &["-e", "--eval", "-p", "--print", "eval"],
        Lang::Php => &["-r"],
        Lang::Lua => &["-e"],
        Lang::R => &["-e"],
        Lang::Awk => &[],
    }
}

/// Options (of the interpreter itself) that take a separate value.
pub(crate) fn value_options(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Python => &["-W", "-X", "-Q"],
        Lang::Perl => &["-I", "-M", "-m", "-x"],
        Lang::Ruby => &["-r", "-I", "-C", "-E"],
        Lang::Node => &["-r", "--require", "--import", "--loader", "--input-type"],
        Lang::Php => &["-d", "-c", "-z"],
        Lang::Lua => &["-l"],
        Lang::R => &[],
        Lang::Awk => &["-F", "-v", "-f"],
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// Backticks (Perl, Ruby, PHP), `qx{}`, `%x()`: a command line.
    Cmd(String),
    Num(String),
    P(char),
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '@'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Decodes the escapes of a quoted literal body.
fn unescape(body: &str, full: bool, quote: char) -> String {
    if !body.contains('\\') {
        return body.to_string();
    }
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            if !full {
                if b[i + 1] == b'\\' || b[i + 1] == quote as u8 {
                    out.push(b[i + 1]);
                } else {
                    out.extend_from_slice(&b[i..i + 2]);
                }
                i += 2;
                continue;
            }
            let (bytes, used) = super::shell::decode_escape(&b[i + 1..]);
            // `\w` and friends (regex escapes) stay as written
            if bytes.len() == 2 && bytes[0] == b'\\' {
                out.extend_from_slice(&b[i..i + 2]);
                i += 2;
                continue;
            }
            out.extend_from_slice(&bytes);
            i += 1 + used.max(1);
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tokenize(lang: Lang, code: &str) -> Vec<Tok> {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    let line_comment = |i: usize| -> bool {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match lang {
            Lang::Python | Lang::Perl | Lang::Ruby | Lang::R | Lang::Awk => c == '#',
            Lang::Node => c == '/' && next == Some('/'),
            Lang::Php => c == '#' || (c == '/' && next == Some('/')),
            Lang::Lua => c == '-' && next == Some('-'),
        }
    };
    while i < n {
        let c = chars[i];
        if c.is_whitespace() {
            if c == '\n' {
                out.push(Tok::P(';'));
            }
            i += 1;
            continue;
        }
        if line_comment(i) {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') && matches!(lang, Lang::Node | Lang::Php) {
            i += 2;
            while i + 1 < n && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        // Perl qx{...} / qq{...} / q{...}, Ruby %x(...) / %q(...) / %Q(...) / %w(...)
        let quote_like = match lang {
            Lang::Perl if matches!(c, 'q') => {
                let (kind, at) = match chars.get(i + 1) {
                    Some('x') => ('x', i + 2),
                    Some('q') => ('q', i + 2),
                    Some('w') => ('w', i + 2),
                    _ => ('s', i + 1),
                };
                let prev_ident = i > 0 && is_ident(chars[i - 1]);
                match chars.get(at) {
                    Some(&d)
                        if !prev_ident && matches!(d, '{' | '(' | '[' | '<' | '|' | '/' | '!') =>
                    {
                        Some((kind, at))
                    }
                    _ => None,
                }
            }
            Lang::Ruby if c == '%' => match (chars.get(i + 1), chars.get(i + 2)) {
                (Some(&k @ ('x' | 'q' | 'Q' | 'w')), Some('{' | '(' | '[' | '<' | '|' | '!')) => {
                    Some((k, i + 2))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((kind, at)) = quote_like {
            let open = chars[at];
            let close = match open {
                '{' => '}',
                '(' => ')',
                '[' => ']',
                '<' => '>',
                d => d,
            };
            let mut j = at + 1;
            let mut depth = 1;
            let start = j;
            while j < n {
                if chars[j] == '\\' {
                    j += 2;
                    continue;
                }
                if chars[j] == open && open != close {
                    depth += 1;
                } else if chars[j] == close {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            let body: String = chars[start..j.min(n)].iter().collect();
            match kind {
                'x' => out.push(Tok::Cmd(body)),
                'w' => {
                    out.push(Tok::P('['));
                    for (k, w) in body.split_whitespace().enumerate() {
                        if k > 0 {
                            out.push(Tok::P(','));
                        }
                        out.push(Tok::Str(w.to_string()));
                    }
                    out.push(Tok::P(']'));
                }
                _ => out.push(Tok::Str(unescape(
                    &body,
                    kind != 'q' || lang == Lang::Ruby,
                    close,
                ))),
            }
            i = j + 1;
            continue;
        }
        if matches!(c, '\'' | '"' | '`') {
            // Python string prefixes were consumed as an identifier: drop them.
            if lang == Lang::Python
                && let Some(Tok::Ident(p)) = out.last()
                && p.len() <= 2
                && p.chars()
                    .all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'b' | 'f' | 'u'))
                && i > 0
                && is_ident(chars[i - 1])
            {
                out.pop();
            }
            let triple = lang == Lang::Python
                && chars.get(i + 1) == Some(&c)
                && chars.get(i + 2) == Some(&c);
            let mut j = if triple { i + 3 } else { i + 1 };
            let start = j;
            loop {
                if j >= n {
                    break;
                }
                if chars[j] == '\\' {
                    j += 2;
                    continue;
                }
                if chars[j] == c
                    && (!triple || (chars.get(j + 1) == Some(&c) && chars.get(j + 2) == Some(&c)))
                {
                    break;
                }
                j += 1;
            }
            let body: String = chars[start..j.min(n)].iter().collect();
            let full = !matches!((lang, c), (Lang::Perl | Lang::Ruby | Lang::Php, '\''));
            let text = unescape(&body, full, c);
            if c == '`' && matches!(lang, Lang::Perl | Lang::Ruby | Lang::Php) {
                out.push(Tok::Cmd(text));
            } else {
                out.push(Tok::Str(text));
            }
            i = if triple { j + 3 } else { j + 1 };
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < n && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if is_ident_start(c) {
            let start = i;
            i += 1;
            while i < n && is_ident(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i]
                .iter()
                .collect::<String>()
                .trim_start_matches(['$', '@'])
                .to_string();
            out.push(Tok::Ident(name));
            continue;
        }
        out.push(Tok::P(c));
        i += 1;
    }
    out
}

/// The characters of a comma-separated list of character codes from `start` up to the first
/// token `end` accepts: the string and the index of that token (`None` when something else is
/// in the list, it is empty, or it is not closed).
fn char_codes(toks: &[Tok], start: usize, end: impl Fn(&Tok) -> bool) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut j = start;
    while j < toks.len() && !end(&toks[j]) {
        match &toks[j] {
            Tok::Num(n) => s.push(parse_int(n).and_then(char::from_u32)?),
            Tok::P(',') => {}
            _ => return None,
        }
        j += 1;
    }
    (!s.is_empty() && j < toks.len()).then_some((s, j))
}

/// Folds string building into single literals: `'a' + 'b'`, `'a' . 'b'`, `'a' .. 'b'`,
/// adjacent literals, `chr(120)`, `String.fromCharCode(120, 109)`, `[::-1]`, `'..'.reverse`.
fn fold(toks: Vec<Tok>) -> Vec<Tok> {
    // chr(N) / String.fromCharCode(N, ...) / map(chr, [N, ...]) → Str
    let mut v: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if matches!(&toks[i], Tok::Ident(m) if m == "map")
            && toks.get(i + 1) == Some(&Tok::P('('))
            && matches!(toks.get(i + 2), Some(Tok::Ident(c)) if c == "chr")
            && toks.get(i + 3) == Some(&Tok::P(','))
            && matches!(toks.get(i + 4), Some(Tok::P('[' | '(')))
            && let Some((s, j)) = char_codes(&toks, i + 5, |t| matches!(t, Tok::P(']' | ')')))
            && toks.get(j + 1) == Some(&Tok::P(')'))
        {
            v.push(Tok::Str(s));
            i = j + 2;
            continue;
        }
        if let Tok::Ident(name) = &toks[i]
            && matches!(name.as_str(), "chr" | "fromCharCode" | "char")
            && toks.get(i + 1) == Some(&Tok::P('('))
            && let Some((s, j)) = char_codes(&toks, i + 2, |t| *t == Tok::P(')'))
        {
            if name == "fromCharCode" && matches!(v.last(), Some(Tok::P('.'))) {
                v.pop();
                if matches!(v.last(), Some(Tok::Ident(s)) if s == "String") {
                    v.pop();
                }
            }
            v.push(Tok::Str(s));
            i = j + 1;
            continue;
        }
        v.push(toks[i].clone());
        i += 1;
    }
    // concatenation and reversal
    let mut out: Vec<Tok> = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if let Tok::Str(s) = &v[i]
            && let Some(Tok::Str(prev)) = out.last_mut()
        {
            // adjacent literals (Python) or joined by an operator (handled below)
            prev.push_str(s);
            i += 1;
            continue;
        }
        let is_concat = |t: &Tok| matches!(t, Tok::P('+') | Tok::P('.'));
        if is_concat(&v[i])
            && matches!(out.last(), Some(Tok::Str(_)))
            && let Some(next) = v.get(i + 1).or(None)
        {
            // `'a' .. 'b'` (Lua): skip a second dot
            let (skip, next) = if v[i] == Tok::P('.') && *next == Tok::P('.') {
                (2, v.get(i + 2))
            } else {
                (1, Some(next))
            };
            if let Some(Tok::Str(s)) = next {
                if let Some(Tok::Str(prev)) = out.last_mut() {
                    prev.push_str(s);
                }
                i += skip + 1;
                continue;
            }
        }
        // 'sep'.join('abc') / 'sep'.join(['a', 'b'])
        if v[i] == Tok::P('.')
            && matches!(out.last(), Some(Tok::Str(_)))
            && matches!(v.get(i + 1), Some(Tok::Ident(j)) if j == "join")
            && v.get(i + 2) == Some(&Tok::P('('))
        {
            let mut parts: Vec<String> = Vec::new();
            let mut j = i + 3;
            let list = v.get(j) == Some(&Tok::P('['));
            if list {
                j += 1;
            }
            let mut ok = true;
            while j < v.len() && !matches!(v[j], Tok::P(']' | ')')) {
                match &v[j] {
                    Tok::Str(p) => parts.push(p.clone()),
                    Tok::P(',') if list => {}
                    _ => ok = false,
                }
                j += 1;
            }
            if list && v.get(j) == Some(&Tok::P(']')) {
                j += 1;
            }
            if ok
                && !parts.is_empty()
                && (list || parts.len() == 1)
                && v.get(j) == Some(&Tok::P(')'))
            {
                if let Some(Tok::Str(sep)) = out.last_mut() {
                    *sep = if list {
                        parts.join(sep.as_str())
                    } else {
                        let sep = sep.clone();
                        parts[0]
                            .chars()
                            .map(String::from)
                            .collect::<Vec<_>>()
                            .join(&sep)
                    };
                }
                i = j + 1;
                continue;
            }
        }
        // 'abc'[::-1]
        if v[i] == Tok::P('[')
            && matches!(out.last(), Some(Tok::Str(_)))
            && v.get(i + 1) == Some(&Tok::P(':'))
            && v.get(i + 2) == Some(&Tok::P(':'))
            && v.get(i + 3) == Some(&Tok::P('-'))
            && v.get(i + 4) == Some(&Tok::Num("1".into()))
            && v.get(i + 5) == Some(&Tok::P(']'))
        {
            if let Some(Tok::Str(prev)) = out.last_mut() {
                *prev = prev.chars().rev().collect();
            }
            i += 6;
            continue;
        }
        out.push(v[i].clone());
        i += 1;
    }
    out
}

fn parse_int(n: &str) -> Option<u32> {
    if let Some(h) = n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        n.parse().ok()
    }
}

/// Calls that start a process with a shell command line or an argument list.
fn is_process_call(lang: Lang, name: &str) -> bool {
    let shared = matches!(
        name,
        "system"
            | "popen"
            | "Popen"
            | "popen2"
            | "popen3"
            | "popen4"
            | "call"
            | "check_call"
            | "check_output"
            | "getoutput"
            | "getstatusoutput"
            | "run"
            | "spawn"
            | "spawnSync"
            | "execSync"
            | "execFile"
            | "execFileSync"
            | "execv"
            | "execve"
            | "execvp"
            | "execvpe"
            | "execl"
            | "execle"
            | "execlp"
            | "execlpe"
            | "spawnv"
            | "spawnve"
            | "spawnvp"
            | "spawnl"
            | "spawnlp"
            | "posix_spawn"
            | "posix_spawnp"
            | "shell_exec"
            | "passthru"
            | "proc_open"
            | "pcntl_exec"
            | "capture2"
            | "capture2e"
            | "capture3"
            | "pipeline"
            | "execute"
            | "system2"
            | "sh"
    );
    shared || (name == "exec" && lang != Lang::Python)
}

/// Calls that run code in the same language.
fn is_code_call(lang: Lang, name: &str) -> bool {
    matches!(
        name,
        "eval"
            | "compile"
            | "Function"
            | "instance_eval"
            | "class_eval"
            | "module_eval"
            | "loadstring"
            | "load"
            | "create_function"
            | "assert"
    ) || (name == "exec" && lang == Lang::Python)
}

/// A decoding call's step, given its name and (literal) extra arguments.
fn decoder_step(name: &str, extra: &[String]) -> Option<Step> {
    let arg = extra.first().map(|s| s.to_ascii_lowercase());
    Some(match name {
        "b64decode" | "standard_b64decode" | "urlsafe_b64decode" | "decodestring"
        | "decodebytes" | "base64_decode" | "decode_base64" | "decode64" | "strict_decode64"
        | "urlsafe_decode64" | "atob" | "a2b_base64" => Step::Base64,
        "b32decode" => Step::Base32,
        "b16decode" | "unhexlify" | "a2b_hex" | "fromhex" | "hex2bin" => Step::Hex,
        "decompress" | "gzuncompress" | "gzdecode" | "inflateSync" | "gunzipSync"
        | "unzlibSync" | "zlib_decode" => Step::Inflate,
        "gzinflate" | "inflateRawSync" => Step::RawDeflate,
        "str_rot13" => Step::Rot13,
        "strrev" | "reverse" => Step::Reverse,
        // Buffer.from(s, 'base64'), codecs.decode(s, 'hex'), s.decode('base64')
        "from" | "decode" | "Buffer" => match arg.as_deref() {
            Some("base64" | "base64_codec" | "base64url") => Step::Base64,
            Some("hex" | "hex_codec") => Step::Hex,
            Some("rot13" | "rot_13") => Step::Rot13,
            Some("zlib" | "zlib_codec") => Step::Inflate,
            _ => return None,
        },
        // ['..'].pack('H*') / pack('H*', '..'), '..'.unpack('m') / unpack1('m0')
        "pack" | "unpack" | "unpack1" => match arg.as_deref() {
            Some(a) if a.starts_with('h') => Step::Hex,
            Some(a) if a.starts_with('m') => Step::Base64,
            _ => return None,
        },
        _ => return None,
    })
}

/// A value inside brackets while walking the code.
#[derive(Clone, Debug)]
enum Val {
    Str(String),
    List(Vec<String>),
    Encoded(String, Vec<Step>),
    Other,
}

struct Frame {
    /// The call this bracket opens (`name(`), if any.
    call: Option<String>,
    /// `[` (a list) or `(` / `{`.
    list: bool,
    /// Arguments / elements so far, split at top-level commas.
    args: Vec<Val>,
    /// Tokens of the current argument.
    cur: Vec<Val>,
    /// The literal a method is called on (`'...'.unpack('m')`).
    receiver: Option<Val>,
}

impl Frame {
    fn new(call: Option<String>, list: bool, receiver: Option<Val>) -> Frame {
        Frame {
            call,
            list,
            args: Vec::new(),
            cur: Vec::new(),
            receiver,
        }
    }

    fn end_arg(&mut self) {
        let cur = std::mem::take(&mut self.cur);
        let v = match cur.len() {
            0 => return,
            1 => cur.into_iter().next().unwrap_or(Val::Other),
            _ => {
                // `x = '...'` inside a call (keyword argument): keep the literal
                match cur.into_iter().rev().find(|v| !matches!(v, Val::Other)) {
                    Some(v) => v,
                    None => Val::Other,
                }
            }
        };
        self.args.push(v);
    }
}

struct Walker {
    lang: Lang,
    items: Vec<Item>,
}

impl Walker {
    fn emit_value(&mut self, v: &Val, loose: bool) {
        match v {
            Val::Encoded(text, steps) => self.items.push(Item::Encoded {
                text: text.clone(),
                steps: steps.clone(),
            }),
            Val::Str(s) if loose => self.items.push(Item::LooseScript(s.clone())),
            Val::List(l) if loose && !l.is_empty() => self.items.push(Item::LooseArgv(l.clone())),
            _ => {}
        }
    }

    /// A closed call: what it runs, or the value it produces.
    fn close_call(&mut self, name: &str, receiver: Option<Val>, args: Vec<Val>) -> Val {
        let strs: Vec<String> = args
            .iter()
            .filter_map(|a| match a {
                Val::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        // decoders: the first literal (or the receiver) is the payload
        let (payload, extra): (Option<Val>, Vec<String>) = match &receiver {
            Some(r) => (Some(r.clone()), strs.clone()),
            None => (
                args.first().cloned(),
                strs.iter().skip(1).cloned().collect(),
            ),
        };
        // pack('H*', '...') takes the format first
        let (payload, extra) = if name == "pack" && receiver.is_none() {
            (
                args.get(1).cloned(),
                strs.first().cloned().into_iter().collect(),
            )
        } else {
            (payload, extra)
        };
        if let Some(step) = decoder_step(name, &extra) {
            match payload {
                Some(Val::Str(s)) => return Val::Encoded(s, vec![step]),
                Some(Val::List(l)) if l.len() == 1 => {
                    return Val::Encoded(l[0].clone(), vec![step]);
                }
                Some(Val::Encoded(s, mut steps)) => {
                    steps.push(step);
                    return Val::Encoded(s, steps);
                }
                _ => {}
            }
        }
        if is_process_call(self.lang, name) {
            match (args.first(), args.get(1)) {
                (Some(Val::List(l)), _) if !l.is_empty() => self.items.push(Item::Argv(l.clone())),
                (Some(Val::Str(p)), Some(Val::List(l))) => {
                    let mut argv = vec![p.clone()];
                    argv.extend(l.iter().cloned());
                    self.items.push(Item::Argv(argv));
                }
                (Some(Val::Str(s)), _) if strs.len() == 1 => {
                    self.items.push(Item::Script(s.clone()))
                }
                (Some(Val::Str(_)), _) => self.items.push(Item::Argv(strs.clone())),
                _ => {}
            }
            for a in &args {
                self.emit_value(a, false);
            }
            return Val::Other;
        }
        if is_code_call(self.lang, name) {
            for a in &args {
                match a {
                    Val::Str(s) => {
                        self.items.push(Item::Code(s.clone()));
                        if self.lang != Lang::Python {
                            self.items.push(Item::Script(s.clone()));
                        }
                    }
                    v => self.emit_value(v, false),
                }
            }
            return Val::Other;
        }
        // any other call: its literal arguments may still be commands kept for later
        for a in &args {
            self.emit_value(a, true);
        }
        if let Some(r) = &receiver {
            self.emit_value(r, true);
        }
        Val::Other
    }

    fn walk(&mut self, toks: &[Tok]) {
        let mut stack: Vec<Frame> = vec![Frame::new(None, false, None)];
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Str(s) => {
                    let v = Val::Str(s.clone());
                    // Perl/Ruby/Lua call without parentheses: `system "..."`, `exec "a", "b"`
                    let bare_call = match i.checked_sub(1).map(|k| &toks[k]) {
                        Some(Tok::Ident(name))
                            if matches!(self.lang, Lang::Perl | Lang::Ruby | Lang::Lua)
                                && (is_process_call(self.lang, name)
                                    || is_code_call(self.lang, name)
                                    || decoder_step(name, &[]).is_some()) =>
                        {
                            Some(name.clone())
                        }
                        _ => None,
                    };
                    if let Some(name) = bare_call {
                        let mut args = vec![v];
                        let mut j = i + 1;
                        while j + 1 < toks.len() && toks[j] == Tok::P(',') {
                            if let Tok::Str(s) = &toks[j + 1] {
                                args.push(Val::Str(s.clone()));
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        // the identifier was pushed as Other: replace it with the result
                        let r = self.close_call(&name, None, args);
                        if let Some(top) = stack.last_mut() {
                            top.cur.pop();
                            top.cur.push(r);
                        }
                        i = j;
                        continue;
                    }
                    if let Some(top) = stack.last_mut() {
                        top.cur.push(v);
                    }
                }
                Tok::Cmd(s) => {
                    self.items.push(Item::Script(s.clone()));
                    if let Some(top) = stack.last_mut() {
                        top.cur.push(Val::Other);
                    }
                }
                Tok::P(c @ ('(' | '[' | '{')) => {
                    let call = match i.checked_sub(1).map(|k| &toks[k]) {
                        Some(Tok::Ident(name)) if *c == '(' => Some(name.clone()),
                        _ => None,
                    };
                    // `'...'.method(` : the literal is the receiver
                    let receiver = if call.is_some()
                        && i >= 3
                        && toks[i - 2] == Tok::P('.')
                        && matches!(toks[i - 3], Tok::Str(_))
                    {
                        stack.last_mut().and_then(|top| {
                            // cur ends with: Str, Other('.')?, Other(ident)
                            let pos = top.cur.iter().rposition(|v| matches!(v, Val::Str(_)))?;
                            Some(top.cur.remove(pos))
                        })
                    } else {
                        None
                    };
                    if call.is_some()
                        && let Some(top) = stack.last_mut()
                    {
                        // the identifier itself
                        top.cur.pop();
                    }
                    stack.push(Frame::new(call, *c == '[', receiver));
                }
                Tok::P(')' | ']' | '}') => {
                    if stack.len() > 1
                        && let Some(mut f) = stack.pop()
                    {
                        f.end_arg();
                        let v = match &f.call {
                            Some(name) => {
                                let name = name.clone();
                                self.close_call(&name, f.receiver.take(), f.args)
                            }
                            None if f.list => {
                                let all: Option<Vec<String>> = f
                                    .args
                                    .iter()
                                    .map(|a| match a {
                                        Val::Str(s) => Some(s.clone()),
                                        _ => None,
                                    })
                                    .collect();
                                match all {
                                    Some(l) => Val::List(l),
                                    None => {
                                        for a in &f.args {
                                            self.emit_value(a, true);
                                        }
                                        Val::Other
                                    }
                                }
                            }
                            None => {
                                // a parenthesised group: pass a single value through
                                if f.args.len() == 1 {
                                    f.args.pop().unwrap_or(Val::Other)
                                } else {
                                    for a in &f.args {
                                        self.emit_value(a, true);
                                    }
                                    Val::Other
                                }
                            }
                        };
                        if let Some(top) = stack.last_mut() {
                            top.cur.push(v);
                        }
                    }
                }
                Tok::P(',') => {
                    if let Some(top) = stack.last_mut() {
                        top.end_arg();
                    }
                }
                Tok::P(';') => {
                    if stack.len() == 1
                        && let Some(top) = stack.last_mut()
                    {
                        top.end_arg();
                        for a in std::mem::take(&mut top.args) {
                            self.emit_value(&a, true);
                        }
                    }
                }
                Tok::P('=') => {
                    // an assignment: what follows is the value
                    if let Some(top) = stack.last_mut() {
                        top.cur.clear();
                    }
                }
                _ => {
                    if let Some(top) = stack.last_mut() {
                        top.cur.push(Val::Other);
                    }
                }
            }
            i += 1;
        }
        while let Some(mut f) = stack.pop() {
            f.end_arg();
            for a in &f.args {
                self.emit_value(a, true);
            }
        }
    }
}

/// Reads of the process environment, replaced by the container's literal value:
/// `os.environ['X']`, `os.environ.get('X')`, `os.getenv('X')`, `getenv('X')` (PHP, Lua, C-like),
/// `Sys.getenv('X')`, `process.env.X`, `process.env['X']`, `ENV['X']`, `ENV.fetch('X')`,
/// `$ENV{X}`, `$_ENV['X']`, `$_SERVER['X']`, `ENVIRON["X"]`. Reads of variables the container
/// does not define stay as they are.
fn resolve_env(toks: Vec<Tok>, env: &dyn Fn(&str) -> Option<String>) -> Vec<Tok> {
    const MAPS: &[&str] = &["environ", "ENV", "_ENV", "_SERVER", "ENVIRON"];
    const OWNERS: &[&str] = &["os", "process", "Sys"];
    let name_at = |t: Option<&Tok>| match t {
        Some(Tok::Str(s)) | Some(Tok::Ident(s)) => Some(s.clone()),
        _ => None,
    };
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        // (tokens consumed, variable name)
        let found: Option<(usize, String)> = match &toks[i] {
            // environ['X'], ENV['X'], ENV{X}, _SERVER['X'], ENVIRON["X"]
            Tok::Ident(m) if MAPS.contains(&m.as_str()) => {
                match (toks.get(i + 1), name_at(toks.get(i + 2)), toks.get(i + 3)) {
                    (Some(Tok::P('[')), Some(n), Some(Tok::P(']')))
                    | (Some(Tok::P('{')), Some(n), Some(Tok::P('}'))) => Some((4, n)),
                    // environ.get('X', ...), ENV.fetch('X', ...)
                    (Some(Tok::P('.')), _, _) => match (toks.get(i + 2), toks.get(i + 3)) {
                        (Some(Tok::Ident(f)), Some(Tok::P('(')))
                            if matches!(f.as_str(), "get" | "fetch") =>
                        {
                            match toks.get(i + 4) {
                                Some(Tok::Str(n)) => {
                                    let close = toks[i + 5..]
                                        .iter()
                                        .position(|t| *t == Tok::P(')'))
                                        .map(|k| i + 5 + k);
                                    close.map(|c| (c + 1 - i, n.clone()))
                                }
                                _ => None,
                            }
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            // getenv('X', ...)
            Tok::Ident(f) if f == "getenv" && toks.get(i + 1) == Some(&Tok::P('(')) => {
                match toks.get(i + 2) {
                    Some(Tok::Str(n)) => toks[i + 3..]
                        .iter()
                        .position(|t| *t == Tok::P(')'))
                        .map(|k| (k + 4, n.clone())),
                    _ => None,
                }
            }
            // env.X, env['X'] after `process.`
            Tok::Ident(e)
                if e == "env"
                    && matches!(out.len().checked_sub(2).map(|k| &out[k]), Some(Tok::Ident(p)) if p == "process")
                    && out.last() == Some(&Tok::P('.')) =>
            {
                match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
                    (Some(Tok::P('.')), Some(Tok::Ident(n)), _) => Some((3, n.clone())),
                    (Some(Tok::P('[')), Some(Tok::Str(n)), Some(Tok::P(']'))) => {
                        Some((4, n.clone()))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((len, name)) = found
            && let Some(value) = env(&name)
        {
            // drop the owner: `os.`, `process.`, `Sys.`
            if out.last() == Some(&Tok::P('.'))
                && matches!(out.len().checked_sub(2).map(|k| &out[k]), Some(Tok::Ident(o)) if OWNERS.contains(&o.as_str()))
            {
                out.truncate(out.len() - 2);
            }
            out.push(Tok::Str(value));
            i += len;
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// Variables assigned one string (`h = 'pool.' + 'x.com'`, `my $h = '...'`, `const h = ...`)
/// replaced by it where they are read afterwards, so that string building across statements
/// folds like string building within one (`h + ':443'`). Anything else assigned (a call, a
/// list, a second value) forgets the variable.
fn resolve_vars(toks: Vec<Tok>) -> Vec<Tok> {
    let mut vars: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    let end_of_statement = |t: Option<&Tok>| {
        matches!(
            t,
            None | Some(Tok::P(';')) | Some(Tok::P(',')) | Some(Tok::P(')'))
        )
    };
    while i < toks.len() {
        if let Tok::Ident(name) = &toks[i] {
            // an assignment starts a statement (`h = ...`, `my $h = ...`, `const h = ...`); a
            // keyword argument (`f(cmd='x')`) or an attribute (`o.h = ...`) is not one
            let statement_start = match out.last() {
                None | Some(Tok::P(';' | '{' | '}')) => true,
                Some(Tok::Ident(k)) => {
                    matches!(k.as_str(), "my" | "our" | "local" | "const" | "let" | "var")
                }
                _ => false,
            };
            // `h += ...`, `h .= ...`, `h ..= ...`: the value is no longer known
            let next = |k: usize| toks.get(i + k);
            let compound = matches!(next(1), Some(Tok::P('+' | '.' | '-' | '*' | '|')))
                && (next(2) == Some(&Tok::P('='))
                    || (next(2) == Some(&Tok::P('.')) && next(3) == Some(&Tok::P('='))));
            if compound {
                vars.remove(name);
                out.push(toks[i].clone());
                i += 1;
                continue;
            }
            let assigned =
                statement_start && next(1) == Some(&Tok::P('=')) && next(2) != Some(&Tok::P('='));
            if assigned {
                match (toks.get(i + 2), end_of_statement(toks.get(i + 3))) {
                    (Some(Tok::Str(v)), true) => {
                        vars.insert(name.clone(), v.clone());
                    }
                    _ => {
                        vars.remove(name);
                    }
                }
                out.push(toks[i].clone());
                i += 1;
                continue;
            }
            let member =
                matches!(out.last(), Some(Tok::P('.'))) || toks.get(i + 1) == Some(&Tok::P('('));
            if !member && let Some(v) = vars.get(name) {
                out.push(Tok::Str(v.clone()));
                i += 1;
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// What one piece of code runs or holds, knowing no env values.
#[cfg(test)]
fn analyze(lang: Lang, code: &str) -> Vec<Item> {
    analyze_in_env(lang, code, &|_| None)
}

/// What one piece of code runs or holds; `env` gives the container's literal env values.
pub(crate) fn analyze_in_env(
    lang: Lang,
    code: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Item> {
    let toks = fold(resolve_vars(fold(resolve_env(tokenize(lang, code), env))));
    let mut w = Walker {
        lang,
        items: Vec::new(),
    };
    w.walk(&toks);
    // an awk program prints into a shell: `print "..." | "sh"`
    if lang == Lang::Awk {
        for pair in toks.windows(3) {
            if let [Tok::Str(s), Tok::P('|'), Tok::Str(sh)] = pair
                && matches!(sh.trim(), "sh" | "bash" | "/bin/sh" | "/bin/bash")
            {
                w.items.push(Item::Script(s.clone()));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    w.items.retain(|i| seen.insert(format!("{i:?}")));
    w.items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Script(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn argvs(items: &[Item]) -> Vec<Vec<String>> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Argv(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn python_process_calls() {
        let items = analyze(
            Lang::Python,
            "import subprocess,os;subprocess.Popen(['/tmp/x', '-o', 'pool.example:3333']);os.system('cd /tmp && ./y --donate-level 1')",
        );
        assert_eq!(
            argvs(&items),
            vec![vec!["/tmp/x", "-o", "pool.example:3333"]]
        );
        assert_eq!(scripts(&items), vec!["cd /tmp && ./y --donate-level 1"]);
        let items = analyze(
            Lang::Python,
            "import os\nos.execv(\"/tmp/k\", [\"k\", \"-o\", 'h:1'])",
        );
        assert_eq!(argvs(&items), vec![vec!["/tmp/k", "k", "-o", "h:1"]]);
        let items = analyze(
            Lang::Python,
            "cmd = ['/opt/m', '-a', 'rx/0']\nimport subprocess; subprocess.run(cmd)",
        );
        assert!(
            items.contains(&Item::LooseArgv(vec![
                "/opt/m".into(),
                "-a".into(),
                "rx/0".into()
            ])),
            "{items:?}"
        );
    }

    #[test]
    fn decoders_nest_and_feed_exec() {
        let items = analyze(
            Lang::Python,
            "import zlib,base64;exec(zlib.decompress(base64.b64decode('eJzLzg==')))",
        );
        assert!(
            items.contains(&Item::Encoded {
                text: "eJzLzg==".into(),
                steps: vec![Step::Base64, Step::Inflate]
            }),
            "{items:?}"
        );
        let items = analyze(
            Lang::Node,
            "eval(Buffer.from('ZWNobw==', 'base64').toString())",
        );
        assert!(
            items.contains(&Item::Encoded {
                text: "ZWNobw==".into(),
                steps: vec![Step::Base64]
            }),
            "{items:?}"
        );
        let items = analyze(Lang::Ruby, "eval('ZWNobw=='.unpack('m')[0])");
        assert!(
            items.contains(&Item::Encoded {
                text: "ZWNobw==".into(),
                steps: vec![Step::Base64]
            }),
            "{items:?}"
        );
        let items = analyze(Lang::Php, "eval(gzinflate(base64_decode('AAAA')));");
        assert!(
            items.contains(&Item::Encoded {
                text: "AAAA".into(),
                steps: vec![Step::Base64, Step::RawDeflate]
            }),
            "{items:?}"
        );
        let items = analyze(
            Lang::Perl,
            "use MIME::Base64; eval decode_base64('ZWNobw==')",
        );
        assert!(
            items.contains(&Item::Encoded {
                text: "ZWNobw==".into(),
                steps: vec![Step::Base64]
            }),
            "{items:?}"
        );
    }

    #[test]
    fn other_languages() {
        let items = analyze(
            Lang::Perl,
            "system(\"/tmp/x\", \"-o\", \"h:1\"); `./y -a rx/0`; qx{./z}; exec '/tmp/w'",
        );
        assert_eq!(argvs(&items), vec![vec!["/tmp/x", "-o", "h:1"]]);
        assert_eq!(scripts(&items), vec!["./y -a rx/0", "./z", "/tmp/w"]);
        let items = analyze(
            Lang::Node,
            "require('child_process').spawn('/tmp/x', ['-o', 'h:1'], {detached: true})",
        );
        assert_eq!(argvs(&items), vec![vec!["/tmp/x", "-o", "h:1"]]);
        let items = analyze(
            Lang::Node,
            "require('child_process').execSync(`./m -o ${host}`)",
        );
        assert_eq!(scripts(&items), vec!["./m -o ${host}"]);
        let items = analyze(Lang::Ruby, "system '/tmp/x -o h:1'; %x(./y)");
        assert_eq!(scripts(&items), vec!["/tmp/x -o h:1", "./y"]);
        let items = analyze(Lang::Php, "shell_exec('./x -o h:1');");
        assert_eq!(scripts(&items), vec!["./x -o h:1"]);
        let items = analyze(
            Lang::Awk,
            "BEGIN { system(\"./x -o h:1\"); print \"./y\" | \"sh\" }",
        );
        assert_eq!(scripts(&items), vec!["./x -o h:1", "./y"]);
        let items = analyze(Lang::Lua, "os.execute('./x -o h:1')");
        assert_eq!(scripts(&items), vec!["./x -o h:1"]);
    }

    #[test]
    fn string_building_is_folded() {
        let items = analyze(
            Lang::Python,
            "import os; os.system('./x' + 'mr' + 'ig -o h:1')",
        );
        assert_eq!(scripts(&items), vec!["./xmrig -o h:1"]);
        let items = analyze(
            Lang::Python,
            "import os; os.system(chr(120)+chr(109)+'rig')",
        );
        assert_eq!(scripts(&items), vec!["xmrig"]);
        let items = analyze(
            Lang::Node,
            "require('child_process').execSync(String.fromCharCode(120,109,114,105,103))",
        );
        assert_eq!(scripts(&items), vec!["xmrig"]);
        let items = analyze(Lang::Python, "import os; os.system('gimrx/pmt/'[::-1])");
        assert_eq!(scripts(&items), vec!["/tmp/xrmig"]);
        let items = analyze(Lang::Perl, "system('./x'.'mrig')");
        assert_eq!(scripts(&items), vec!["./xmrig"]);
    }

    #[test]
    fn env_reads_and_variables_are_resolved() {
        let env = |n: &str| (n == "CMD").then(|| "/tmp/x -o h:1".to_string());
        for (lang, code) in [
            (Lang::Python, "import os; os.system(os.environ['CMD'])"),
            (
                Lang::Python,
                "import os; os.system(os.environ.get('CMD', 'x'))",
            ),
            (
                Lang::Python,
                "import os\nc = os.getenv('CMD')\nos.system(c)",
            ),
            (
                Lang::Node,
                "require('child_process').execSync(process.env.CMD)",
            ),
            (
                Lang::Node,
                "require('child_process').exec(process.env['CMD'])",
            ),
            (Lang::Ruby, "system(ENV['CMD'])"),
            (Lang::Ruby, "system(ENV.fetch('CMD'))"),
            (Lang::Perl, "system($ENV{CMD})"),
            (Lang::Php, "system(getenv('CMD'));"),
            (Lang::Php, "system($_SERVER['CMD']);"),
            (Lang::Lua, "os.execute(os.getenv('CMD'))"),
            (Lang::R, "system(Sys.getenv('CMD'))"),
        ] {
            let items = analyze_in_env(lang, code, &env);
            assert_eq!(scripts(&items), vec!["/tmp/x -o h:1"], "{lang:?} {code}");
        }
        // a variable the container does not define stays unknown
        assert!(
            scripts(&analyze_in_env(
                Lang::Python,
                "import os; os.system(os.environ['NOPE'])",
                &env
            ))
            .is_empty()
        );
        // variables, character codes and joins; a variable reassigned to something unknown
        // is forgotten
        for (code, expected) in [
            ("import os\nc = 'ls'\nc = f()\nos.system(c)", vec![]),
            (
                "import os\nh = 'a' + 'b'\nos.system(h + ' -c')",
                vec!["ab -c"],
            ),
            (
                "import os; os.system(''.join(map(chr, [108, 115])))",
                vec!["ls"],
            ),
            (
                "import os; os.system(' '.join(['ls', '-l']))",
                vec!["ls -l"],
            ),
        ] {
            assert_eq!(scripts(&analyze(Lang::Python, code)), expected, "{code}");
        }
    }

    #[test]
    fn comments_and_escapes() {
        let items = analyze(
            Lang::Python,
            "# os.system('nope')\nimport os; os.system(\"\\x2e/x\")",
        );
        assert_eq!(scripts(&items), vec!["./x"]);
        let items = analyze(Lang::Python, "import os; os.system(r'''./a\\x''')");
        assert_eq!(scripts(&items), vec!["./a\\x"]);
    }

    #[test]
    fn malformed_code_does_not_panic() {
        for lang in [
            Lang::Python,
            Lang::Perl,
            Lang::Ruby,
            Lang::Node,
            Lang::Php,
            Lang::Lua,
            Lang::R,
            Lang::Awk,
        ] {
            for code in [
                "(((",
                ")))",
                "'unterminated",
                "\"\"\"",
                "qx{",
                "%x(",
                "system(",
                "[[[,,]",
                "chr(",
                "chr(99999999999)",
                "`",
                "a.b.c(",
                "x = = =",
            ] {
                let _ = analyze(lang, code);
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any code in any language is read without panic, in bounded time.
            #[test]
            fn prop_arbitrary_code(code in "\\PC{0,200}", k in 0usize..8) {
                let lang = [Lang::Python, Lang::Perl, Lang::Ruby, Lang::Node, Lang::Php, Lang::Lua, Lang::R, Lang::Awk][k];
                let start = std::time::Instant::now();
                let _ = analyze(lang, &code);
                prop_assert!(start.elapsed() < std::time::Duration::from_secs(1));
            }

            /// Code soup made of the walker's own delimiters.
            #[test]
            fn prop_delimiter_soup(parts in proptest::collection::vec(prop_oneof![
                Just("("), Just(")"), Just("["), Just("]"), Just("{"), Just("}"), Just(","), Just("'a'"),
                Just("\"b\""), Just("system"), Just("b64decode"), Just("exec"), Just("="), Just(";"),
                Just("`x`"), Just("qx{"), Just("%x("), Just("chr(65)"), Just("+"), Just("."), Just("[::-1]"),
            ], 0..60), k in 0usize..8) {
                let lang = [Lang::Python, Lang::Perl, Lang::Ruby, Lang::Node, Lang::Php, Lang::Lua, Lang::R, Lang::Awk][k];
                let _ = analyze(lang, &parts.concat());
            }
        }
    }
}
