//! Reading inputs: paths (files, directories walked recursively), `-` for stdin, and
//! splitting their text into YAML or JSON documents.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{Diagnostic, ScanError};

/// Extensions picked up when walking a directory.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The display name of standard input.
pub const STDIN: &str = "-";

/// One input file with its text.
#[derive(Debug)]
pub struct Source {
    /// The path as the user would recognise it (`-` for stdin).
    pub name: String,
    pub text: String,
    pub syntax: Syntax,
}

/// How a source is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    /// One JSON value, or a stream of them (whitespace-separated).
    Json,
}

impl Syntax {
    /// `.json` files are JSON; stdin and files with other extensions are sniffed: text
    /// whose first non-blank character is `{` or `[` is JSON, anything else YAML.
    fn detect(path: Option<&Path>, text: &str) -> Syntax {
        let ext = path.and_then(|p| p.extension()).and_then(|e| e.to_str());
        match ext.map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Syntax::Json,
            Some("yaml" | "yml") => Syntax::Yaml,
            _ => match text.trim_start().chars().next() {
                Some('{' | '[') => Syntax::Json,
                _ => Syntax::Yaml,
            },
        }
    }
}

/// Expands the command-line paths into the list of files to read, in order: each argument
/// in turn; a directory is walked recursively with entries sorted by name, keeping
/// `.yaml`, `.yml` and `.json` files. Symlinked directories are not followed (no loops);
/// symlinked files are. A file named explicitly is read whatever its extension.
pub fn expand(paths: &[PathBuf], errors: &mut Vec<Diagnostic>) -> Vec<Option<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN {
            out.push(None);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut out, errors),
            Ok(_) => out.push(Some(path.clone())),
            Err(source) => errors.push(read_error(path, source)),
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<Option<PathBuf>>, errors: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(read_error(dir, source));
            return;
        }
    };
    let mut paths: Vec<(PathBuf, bool)> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                errors.push(read_error(dir, source));
                continue;
            }
        };
        let path = entry.path();
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => {
                // Follow symlinked files, never symlinked directories.
                if std::fs::metadata(&path)
                    .map(|m| m.is_dir())
                    .unwrap_or(false)
                {
                    continue;
                }
                false
            }
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        paths.push((path, is_dir));
    }
    paths.sort();
    for (path, is_dir) in paths {
        if is_dir {
            walk(&path, out, errors);
        } else if has_manifest_extension(&path) {
            out.push(Some(path));
        }
    }
}

/// A file or directory that cannot be read.
fn read_error(path: &Path, source: std::io::Error) -> Diagnostic {
    let name = display(path);
    Diagnostic::file(
        &name,
        ScanError::Read {
            path: name.clone(),
            source,
        },
    )
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// A path as shown to users: `/` separators.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Reads one input (a path, or stdin for `None`).
pub fn read(path: Option<&Path>) -> Result<Source, Box<Diagnostic>> {
    let name = path.map(display).unwrap_or_else(|| STDIN.to_string());
    let mut bytes = Vec::new();
    let res = match path {
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes)),
        None => std::io::stdin().lock().read_to_end(&mut bytes),
    };
    if let Err(source) = res {
        return Err(Box::new(Diagnostic::file(
            &name,
            ScanError::Read {
                path: name.clone(),
                source,
            },
        )));
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => {
            return Err(Box::new(Diagnostic::file(
                &name,
                ScanError::NotUtf8 { path: name.clone() },
            )));
        }
    };
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    let syntax = Syntax::detect(path, &text);
    Ok(Source { name, text, syntax })
}

/// One document of a source.
#[derive(Debug)]
pub struct Document<'a> {
    /// 0-based index among the file's non-empty documents.
    pub index: usize,
    /// 1-based line where the document starts.
    pub first_line: u64,
    /// The document's own text (for locating fields later).
    pub text: &'a str,
    pub value: Value,
}

/// A document that failed to parse.
#[derive(Debug)]
pub struct SyntaxError {
    pub index: usize,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub error: Box<ScanError>,
}

impl SyntaxError {
    /// The error as reported for `file`.
    pub fn into_diagnostic(self, file: &str) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            document: Some(self.index),
            item: None,
            line: self.line,
            column: self.column,
            error: *self.error,
        }
    }
}

/// Splits a source into documents. A YAML syntax error affects only its own document
/// (the text is split at `---` / `...` markers first); a JSON syntax error ends the file,
/// as a JSON stream cannot be resynchronised.
/// Documents are parsed lazily, one at a time, so memory follows the largest document,
/// not the file.
pub fn documents(source: &Source) -> DocumentIter<'_> {
    match source.syntax {
        Syntax::Yaml => Box::new(yaml_documents(&source.text)),
        Syntax::Json => Box::new(json_documents(&source.text)),
    }
}

/// The documents of a source, in order.
pub type DocumentIter<'a> = Box<dyn Iterator<Item = Result<Document<'a>, SyntaxError>> + 'a>;

pub(crate) fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

/// Splits YAML text at document markers. Returns (first line (1-based), text) of each
/// chunk that holds more than blank lines, comments and directives.
pub fn split_yaml(text: &str) -> Vec<(u64, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u64;
    let mut offset = 0usize;
    for (line_no, line) in (1u64..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ") || bare.starts_with("...\t");
        if is_start || is_end {
            chunks.push((start_line, &text[start..offset]));
            if is_start && !bare[3..].trim().is_empty() {
                // `--- {a: 1}` or `--- |`: the marker line belongs to the new document.
                start = offset;
                start_line = line_no;
            } else {
                start = offset + line.len();
                start_line = line_no + 1;
            }
        }
        offset += line.len();
    }
    chunks.push((start_line, &text[start..]));
    chunks.retain(|(_, chunk)| has_content(chunk));
    chunks
}

fn has_content(chunk: &str) -> bool {
    chunk.lines().any(|l| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || t.starts_with('%') || t == "---")
    })
}

fn yaml_documents(text: &str) -> impl Iterator<Item = Result<Document<'_>, SyntaxError>> {
    let options = yaml_options();
    split_yaml(text)
        .into_iter()
        .enumerate()
        .map(move |(index, (first_line, chunk))| {
            match serde_saphyr::from_str_with_options::<Value>(chunk, options.clone()) {
                Ok(value) => Ok(Document {
                    index,
                    first_line,
                    text: chunk,
                    value,
                }),
                Err(err) => {
                    let loc = err.location();
                    Err(SyntaxError {
                        index,
                        line: loc.map(|l| l.line() + first_line - 1),
                        column: loc.map(|l| l.column()),
                        error: Box::new(ScanError::Yaml {
                            message: plain_yaml_message(&err),
                        }),
                    })
                }
            }
        })
}

/// The parser's message without its own position suffix (we report the position
/// relative to the whole file separately).
fn plain_yaml_message(err: &serde_saphyr::Error) -> String {
    let rendered = err.without_snippet().to_string();
    match rendered.rfind(" at line ") {
        Some(i) if rendered[i..].contains("column") => rendered[..i].to_string(),
        _ => rendered,
    }
}

fn json_documents(text: &str) -> impl Iterator<Item = Result<Document<'_>, SyntaxError>> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0;
    // Lines counted incrementally: (byte offset, line number at that offset).
    let mut counted = (0usize, 1u64);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let before = stream.byte_offset();
        let item = match stream.next()? {
            Ok(value) => {
                let end = stream.byte_offset();
                let skipped = text[before..end].len() - text[before..end].trim_start().len();
                let start = before + skipped;
                let newlines = text[counted.0..start]
                    .bytes()
                    .filter(|b| *b == b'\n')
                    .count();
                counted = (start, counted.1 + newlines as u64);
                Ok(Document {
                    index,
                    first_line: counted.1,
                    text: &text[start..end],
                    value,
                })
            }
            Err(err) => {
                // A JSON stream cannot be resynchronised after a syntax error.
                done = true;
                Err(SyntaxError {
                    index,
                    line: Some(err.line() as u64),
                    column: Some(err.column() as u64),
                    error: Box::new(ScanError::Json {
                        message: plain_json_message(&err),
                    }),
                })
            }
        };
        index += 1;
        Some(item)
    })
}

pub(crate) fn plain_json_message(err: &serde_json::Error) -> String {
    let rendered = err.to_string();
    match rendered.rfind(" at line ") {
        Some(i) => rendered[..i].to_string(),
        None => rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_skips_empty_documents_and_keeps_lines() {
        let text = "---\n# only a comment\n---\na: 1\n---\n\nb: 2\n...\n";
        let chunks = split_yaml(text);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].0, 4);
        assert!(chunks[0].1.contains("a: 1"));
        assert_eq!(chunks[1].0, 6);
        assert!(chunks[1].1.contains("b: 2"));
    }

    #[test]
    fn marker_with_inline_content_starts_the_document() {
        let chunks = split_yaml("a: 1\n--- {b: 2}\n");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1], (2, "--- {b: 2}\n"));
    }

    #[test]
    fn yaml_syntax_error_is_local_to_its_document() {
        let source = Source {
            name: "x.yaml".into(),
            text: "a: 1\n---\nb: [1, 2\n---\nc: 3\n".into(),
            syntax: Syntax::Yaml,
        };
        let docs: Vec<_> = documents(&source).collect();
        assert_eq!(docs.len(), 3);
        assert!(docs[0].is_ok());
        let err = docs[1].as_ref().expect_err("second document is broken");
        assert_eq!(err.index, 1);
        assert!(err.line.is_some_and(|l| l >= 3), "line {:?}", err.line);
        assert!(
            docs[2]
                .as_ref()
                .is_ok_and(|d| d.index == 2 && d.first_line == 5)
        );
    }

    #[test]
    fn json_stream_documents_have_start_lines() {
        let source = Source {
            name: "x.json".into(),
            text: "{\"a\": 1}\n\n{\n \"b\": 2}\n{oops".into(),
            syntax: Syntax::Json,
        };
        let docs: Vec<_> = documents(&source).collect();
        assert_eq!(docs.len(), 3);
        assert!(docs[0].as_ref().is_ok_and(|d| d.first_line == 1));
        assert!(
            docs[1]
                .as_ref()
                .is_ok_and(|d| d.first_line == 3 && d.text.starts_with('{'))
        );
        let err = docs[2].as_ref().expect_err("third is broken");
        assert_eq!(err.line, Some(5));
    }

    #[test]
    fn syntax_is_sniffed_for_stdin() {
        assert_eq!(Syntax::detect(None, "  {\"kind\": \"Pod\"}"), Syntax::Json);
        assert_eq!(Syntax::detect(None, "kind: Pod"), Syntax::Yaml);
        assert_eq!(Syntax::detect(Some(Path::new("a.YML")), "{}"), Syntax::Yaml);
    }
}
