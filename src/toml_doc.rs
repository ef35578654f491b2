//! TOML input with the byte span of every key and value, read by hand into the input structs.
//! Reading by hand (rather than with serde, which stops at the first wrong type and names
//! Rust types) lets every wrong type, missing key and unknown key of a file be reported at
//! once, each with the dotted path of its field (`service[2].call[0].timeout`) and what to
//! write instead, in the user's terms.

use std::ops::Range;
use std::path::Path;

use crate::input_error::{line_col, ErrorSink, InputError, InputErrors};

/// What the user should write, by kind of field (the end of a type error's message).
pub mod expect {
    pub const DURATION: &str = "write a duration with a unit, in quotes, like \"250ms\" (units ns, us, ms, s, min)";
    pub const SIZE: &str = "write a size with a unit, in quotes, like \"64Mi\" (units B, KB, MB, GB, Ki, Mi, Gi, KiB, MiB, GiB)";
    pub const RATE: &str = "write a rate with a unit, in quotes, like \"1000rps\"";
    pub const CPU: &str = "write CPU in quotes as millicores or cores, like \"300m\" or \"2\"";
    pub const BANDWIDTH: &str = "write a bandwidth with a unit, in quotes, like \"200Mbps\" (units bps, Kbps, Mbps, Gbps)";
    pub const NAME: &str = "write a name in quotes, like \"face\"";
    pub const TEXT: &str = "write text in quotes";
    pub const FILE: &str = "write a file path in quotes, like \"../models/ztunnel.toml\"";
    pub const WHOLE: &str = "write a whole number, like 3";
    pub const NUMBER: &str = "write a number, like 1.5";
    pub const BOOL: &str = "write true or false";
}

/// A value read from a file, with its byte span and the dotted path of its field.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    value: T,
    span: Range<usize>,
    path: String,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Range<usize>, path: impl Into<String>) -> Self {
        Spanned { value, span, path: path.into() }
    }

    pub fn get_ref(&self) -> &T {
        &self.value
    }

    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The field's dotted path, e.g. `service[2].call[0].timeout`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn into_inner(self) -> T {
        self.value
    }
}

/// A TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Range<usize>,
}

/// A table's entries in the order of the document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl Value {
    /// How a message names a value the user wrote.
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => {
                let short: String = s.chars().take(40).collect();
                let more = if short.len() < s.len() { "…" } else { "" };
                format!("the text \"{short}{more}\"")
            }
            Value::Integer(i) => format!("the number {i}"),
            Value::Float(x) => format!("the number {}", fmt_float(*x)),
            Value::Boolean(b) => format!("{b}"),
            Value::Datetime(d) => format!("the date {d}"),
            Value::Array(_) => "a list".into(),
            Value::Table(_) => "a table".into(),
        }
    }
}

fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        x.to_string()
    }
}

impl Node {
    /// The same value as a `toml::Value` (to edit documents with the `toml` crate).
    pub fn to_toml(&self) -> toml::Value {
        match &self.value {
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Integer(i) => toml::Value::Integer(*i),
            Value::Float(x) => toml::Value::Float(*x),
            Value::Boolean(b) => toml::Value::Boolean(*b),
            Value::Datetime(d) => d.parse().map(toml::Value::Datetime).unwrap_or_else(|_| toml::Value::String(d.clone())),
            Value::Array(items) => toml::Value::Array(items.iter().map(Node::to_toml).collect()),
            Value::Table(t) => toml::Value::Table(t.entries.iter().map(|e| (e.key.clone(), e.node.to_toml())).collect()),
        }
    }

    /// The first number in this value (or inside it) that is NaN or infinite.
    pub fn non_finite(&self) -> Option<&Node> {
        match &self.value {
            Value::Float(x) if !x.is_finite() => Some(self),
            Value::Array(items) => items.iter().find_map(Node::non_finite),
            Value::Table(t) => t.entries.iter().find_map(|e| e.node.non_finite()),
            _ => None,
        }
    }
}

/// Parse TOML text read from `path`. A syntax error stops the parser, so it is the only
/// problem reported; it names the field being written where the line shows one.
pub fn parse(path: &Path, text: &str) -> Result<Table, InputErrors> {
    match toml_edit::ImDocument::parse(text) {
        Ok(doc) => Ok(convert_table(doc.as_table(), 0..0)),
        Err(e) => {
            let at = e.span().map(|s| s.start).unwrap_or(text.len());
            let (line, col) = line_col(text, at);
            Err(InputErrors(vec![InputError { path: path.to_path_buf(), line, col, message: syntax_message(text, at, e.message()) }]))
        }
    }
}

fn convert_table(t: &toml_edit::Table, fallback: Range<usize>) -> Table {
    let entries = t
        .iter()
        .filter_map(|(k, item)| {
            let key_span = t.key(k).and_then(|k| k.span()).unwrap_or_else(|| fallback.clone());
            convert_item(item, key_span.clone()).map(|node| Entry { key: k.to_string(), key_span, node })
        })
        .collect();
    Table { entries }
}

fn convert_item(item: &toml_edit::Item, fallback: Range<usize>) -> Option<Node> {
    match item {
        toml_edit::Item::None => None,
        toml_edit::Item::Value(v) => Some(convert_value(v, fallback)),
        toml_edit::Item::Table(t) => {
            let span = t.span().unwrap_or(fallback);
            Some(Node { value: Value::Table(convert_table(t, span.clone())), span })
        }
        toml_edit::Item::ArrayOfTables(a) => {
            let items = a
                .iter()
                .map(|t| {
                    let span = t.span().unwrap_or_else(|| fallback.clone());
                    Node { value: Value::Table(convert_table(t, span.clone())), span }
                })
                .collect();
            Some(Node { value: Value::Array(items), span: a.span().unwrap_or(fallback) })
        }
    }
}

fn convert_value(v: &toml_edit::Value, fallback: Range<usize>) -> Node {
    let span = v.span().unwrap_or(fallback);
    let value = match v {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Integer(*i.value()),
        toml_edit::Value::Float(x) => Value::Float(*x.value()),
        toml_edit::Value::Boolean(b) => Value::Boolean(*b.value()),
        toml_edit::Value::Datetime(d) => Value::Datetime(d.value().to_string()),
        toml_edit::Value::Array(a) => Value::Array(a.iter().map(|x| convert_value(x, span.clone())).collect()),
        toml_edit::Value::InlineTable(t) => Value::Table(Table {
            entries: t
                .iter()
                .map(|(k, x)| {
                    let key_span = t.key(k).and_then(|k| k.span()).unwrap_or_else(|| span.clone());
                    Entry { key: k.to_string(), key_span: key_span.clone(), node: convert_value(x, key_span) }
                })
                .collect(),
        }),
    };
    Node { value, span }
}

/// A syntax error in the user's terms: the parser's message names TOML's grammar (or, at
/// the end of the file, nothing at all).
fn syntax_message(text: &str, at: usize, raw: &str) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[at..].find('\n').map(|i| at + i).unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let raw = raw.trim().replace('\n', ": ");
    // `key = value` on the line: name the field, and say what is wrong with the value.
    let assignment = line.split_once('=').filter(|(k, _)| {
        let k = k.trim();
        !k.is_empty() && !k.starts_with('[') && !k.starts_with('#') && k.chars().all(|c| c.is_alphanumeric() || "_-.\"' ".contains(c))
    });
    let path = path_at(text, line_start);
    match assignment {
        Some((key, value)) => {
            let key = key.trim().trim_matches('"');
            let field = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
            let value = value.split('#').next().unwrap_or("").trim();
            let value: String =
                if value.chars().count() > 40 { value.chars().take(40).chain(['…']).collect() } else { value.to_string() };
            let value = value.as_str();
            if value.is_empty() {
                format!("{field}: the value is missing after `=`")
            } else if raw.contains("recursion limit") {
                format!("{field}: lists or tables are nested too deeply here")
            } else if value.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
                && value.chars().any(|c| c.is_alphabetic())
                && !value.contains(['"', '\''])
            {
                format!("{field}: `{value}` needs quotes: a quantity with a unit is written as text, like \"{value}\"")
            } else if raw.is_empty() {
                format!("{field}: the file ends before this value does")
            } else if raw.contains("duplicate key") {
                format!("{field}: `{key}` is given twice in this table: keep one")
            } else if raw.contains("too large") && value.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit() || b == b'_') {
                format!("{field}: {value} is too large: a whole number in a TOML file is at most 9223372036854775807")
            } else {
                format!("{field}: this is not a TOML value ({raw}); text goes in quotes, like \"{}\"", value.trim_matches(['"', '\'']))
            }
        }
        None if raw.is_empty() => "the file ends in the middle of a line: finish it or remove it".into(),
        None if path.is_empty() => format!("invalid TOML: {raw}"),
        None => format!("invalid TOML after [{path}]: {raw}"),
    }
}

/// The dotted path of the table a line of the text is in, from the `[table]` and `[[array]]`
/// headers above it (`service[2].call[0]`). A best effort for syntax errors only: valid
/// documents get exact paths from their tree.
fn path_at(text: &str, offset: usize) -> String {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut current = String::new();
    for line in text[..offset.min(text.len())].lines() {
        let l = line.trim();
        let (name, array) = if let Some(n) = l.strip_prefix("[[").and_then(|r| r.split_once("]]")).map(|x| x.0) {
            (n.trim(), true)
        } else if let Some(n) = l.strip_prefix('[').and_then(|r| r.split_once(']')).map(|x| x.0) {
            (n.trim(), false)
        } else {
            continue;
        };
        if array {
            *counts.entry(name.to_string()).or_default() += 1;
            let prefix = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&prefix));
        }
        // Each segment gets the index of the array of tables it names, if it is one.
        let mut path = String::new();
        let mut so_far = String::new();
        for seg in name.split('.') {
            let seg = seg.trim().trim_matches('"');
            if !so_far.is_empty() {
                so_far.push('.');
                path.push('.');
            }
            so_far.push_str(seg);
            path.push_str(seg);
            if let Some(n) = counts.get(&so_far) {
                path.push_str(&format!("[{}]", n - 1));
            }
        }
        current = path;
    }
    current
}

/// Reads the fields of one table: each getter checks the type and records what it took;
/// [`Fields::finish`] reports every key nobody took.
pub struct Fields<'t> {
    table: &'t Table,
    path: String,
    span: Range<usize>,
    used: Vec<bool>,
}

impl<'t> Fields<'t> {
    /// The document's top-level table.
    pub fn root(table: &'t Table) -> Self {
        Fields::new(table, String::new(), 0..0)
    }

    fn new(table: &'t Table, path: String, span: Range<usize>) -> Self {
        Fields { table, path, span, used: vec![false; table.entries.len()] }
    }

    /// This table's dotted path (empty for the top level).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where the table starts (its header, or its first key).
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The dotted path of one of this table's keys.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The entry of `key`, marked as read.
    pub fn entry(&mut self, key: &str) -> Option<&'t Entry> {
        let i = self.table.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        Some(&self.table.entries[i])
    }

    /// Report a required key that is absent.
    pub fn missing(&self, sink: &mut ErrorSink, key: &str, expect: &str) {
        let place = if self.path.is_empty() || self.path.ends_with(']') { self.path.clone() } else { format!("[{}]", self.path) };
        let place = if place.is_empty() { "the file".to_string() } else { place };
        sink.at(self.span(), format!("{}: missing from {place}: {expect}", self.key_path(key)));
    }

    fn wrong(sink: &mut ErrorSink, path: &str, node: &Node, expect: &str) {
        sink.at(node.span.clone(), format!("{path}: {expect} (found {})", node.value.describe()));
    }

    /// An optional scalar: `pick` takes the value if it has the right type; otherwise the
    /// error says what to write (`expect`) and what was found.
    fn scalar<T>(&mut self, sink: &mut ErrorSink, key: &str, expect: &str, pick: impl Fn(&Value) -> Option<T>) -> Option<Spanned<T>> {
        let e = self.entry(key)?;
        let path = self.key_path(key);
        match pick(&e.node.value) {
            Some(v) => Some(Spanned::new(v, e.node.span.clone(), path)),
            None => {
                Self::wrong(sink, &path, &e.node, expect);
                None
            }
        }
    }

    /// Report `key` as missing when it is absent (for required keys, before reading them).
    fn require(&mut self, sink: &mut ErrorSink, key: &str, expect: &str) -> &mut Self {
        if self.table.get(key).is_none() {
            self.missing(sink, key, expect);
        }
        self
    }

    /// An optional text value.
    pub fn text(&mut self, sink: &mut ErrorSink, key: &str, expect: &str) -> Option<Spanned<String>> {
        self.scalar(sink, key, expect, |v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// A required text value.
    pub fn req_text(&mut self, sink: &mut ErrorSink, key: &str, expect: &str) -> Option<Spanned<String>> {
        self.require(sink, key, expect).text(sink, key, expect)
    }

    /// An optional whole number.
    pub fn int(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Spanned<i64>> {
        self.scalar(sink, key, expect::WHOLE, |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })
    }

    pub fn req_int(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Spanned<i64>> {
        self.require(sink, key, expect::WHOLE).int(sink, key)
    }

    /// The required `version` key of a file format, which must be `supported`: when it is
    /// missing, the message asks for that version (not for just any whole number), and another
    /// version is refused. `files` names the kind of file in the refusal ("sweep": "this meshsim
    /// reads sweep files of version 1"; `None`: "reads version 1").
    pub fn req_version(&mut self, sink: &mut ErrorSink, supported: i64, files: Option<&str>) {
        let hint = format!("write `version = {supported}`, the format this meshsim reads");
        if let Some(v) = self.require(sink, "version", &hint).int(sink, "version") {
            if *v.get_ref() != supported {
                let of = files.map(|f| format!("{f} files of ")).unwrap_or_default();
                sink.at(v.span(), format!("version: {} is not supported: this meshsim reads {of}version {supported}", v.get_ref()));
            }
        }
    }

    /// An optional finite number (whole numbers are numbers too).
    pub fn number(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Spanned<f64>> {
        if let Some(Value::Float(x)) = self.table.get(key).map(|e| &e.node.value) {
            if !x.is_finite() {
                let e = self.entry(key)?;
                let message = format!("{}: {} is not a number meshsim can use: {}", self.key_path(key), fmt_float(*x), expect::NUMBER);
                sink.at(e.node.span.clone(), message);
                return None;
            }
        }
        self.scalar(sink, key, expect::NUMBER, |v| match v {
            Value::Integer(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        })
    }

    pub fn req_number(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Spanned<f64>> {
        self.require(sink, key, expect::NUMBER).number(sink, key)
    }

    pub fn boolean(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Spanned<bool>> {
        self.scalar(sink, key, expect::BOOL, |v| match v {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// An optional table (`[key]` or `key = { … }`).
    pub fn table(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Fields<'t>> {
        let e = self.entry(key)?;
        let path = self.key_path(key);
        match &e.node.value {
            Value::Table(t) => Some(Fields::new(t, path, e.node.span.clone())),
            _ => {
                Self::wrong(sink, &path, &e.node, &format!("write a table: a [{path}] section or {key} = {{ … }}"));
                None
            }
        }
    }

    pub fn req_table(&mut self, sink: &mut ErrorSink, key: &str) -> Option<Fields<'t>> {
        if self.table.get(key).is_none() {
            self.missing(sink, key, &format!("add a [{}] section", self.key_path(key)));
        }
        self.table(sink, key)
    }

    /// The items of a list, each with its index in the path (`key[0]`, `key[1]`, …): `pick`
    /// takes an item of the right type; the others are errors saying `item_expect`.
    fn list<T>(
        &mut self,
        sink: &mut ErrorSink,
        key: &str,
        list_expect: &str,
        item_expect: &str,
        pick: impl Fn(&'t Node, String) -> Option<T>,
    ) -> Vec<T> {
        let Some(e) = self.entry(key) else { return Vec::new() };
        let path = self.key_path(key);
        let Value::Array(items) = &e.node.value else {
            Self::wrong(sink, &path, &e.node, list_expect);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, n) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            match pick(n, item_path.clone()) {
                Some(x) => out.push(x),
                None => Self::wrong(sink, &item_path, n, item_expect),
            }
        }
        out
    }

    /// A list of tables (`[[key]]` entries).
    pub fn tables(&mut self, sink: &mut ErrorSink, key: &str) -> Vec<Fields<'t>> {
        let list_expect = format!("write a [[{}]] section for each entry", self.key_path(key));
        self.list(sink, key, &list_expect, "write a table", |n, path| match &n.value {
            Value::Table(t) => Some(Fields::new(t, path, n.span.clone())),
            _ => None,
        })
    }

    /// A list of text values.
    pub fn texts(&mut self, sink: &mut ErrorSink, key: &str, expect: &str) -> Vec<Spanned<String>> {
        let list_expect = format!("write a list, like [\"a\", \"b\"]: {expect}");
        self.list(sink, key, &list_expect, expect, |n, path| match &n.value {
            Value::String(s) => Some(Spanned::new(s.clone(), n.span.clone(), path)),
            _ => None,
        })
    }

    /// Every key not read yet, marked as read (for free-form tables such as `[provenance]`).
    pub fn rest(&mut self) -> Vec<&'t Entry> {
        let mut out = Vec::new();
        for (i, e) in self.table.entries.iter().enumerate() {
            if !self.used[i] {
                self.used[i] = true;
                out.push(e);
            }
        }
        out
    }

    /// Report every key that no getter read, naming the nearest known key when one is close.
    pub fn finish(&self, sink: &mut ErrorSink, known: &[&str]) {
        let place = if self.path.is_empty() {
            "at the top of the file".to_string()
        } else if self.path.ends_with(']') {
            format!("in {}", self.path)
        } else {
            format!("in [{}]", self.path)
        };
        for (e, used) in self.table.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            if sink.is_full() {
                sink.at(e.key_span.clone(), String::new());
                continue;
            }
            let hint = match nearest(&e.key, known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            sink.at(e.key_span.clone(), format!("{}: unknown key `{}` {place}: {hint}", self.key_path(&e.key), e.key));
        }
    }
}

/// The known key closest to `key` by edit distance, if close enough to be a typo.
pub fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    if key.len() > 64 {
        return None;
    }
    known.iter().map(|k| (edit_distance(key, k), *k)).filter(|(d, k)| *d <= 2.max(k.len() / 3)).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = if ca == b[j] { prev } else { 1 + prev.min(row[j]).min(row[j + 1]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str, read: impl Fn(&mut Fields, &mut ErrorSink)) -> Vec<String> {
        let path = Path::new("t.toml");
        let doc = match parse(path, text) {
            Ok(d) => d,
            Err(e) => return e.0.iter().map(|e| e.to_string()).collect(),
        };
        let mut sink = ErrorSink::new(path, text);
        let mut f = Fields::root(&doc);
        read(&mut f, &mut sink);
        sink.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn every_wrong_type_is_reported_with_its_path() {
        let text = "[[service]]\nname = 1\n[[service]]\nname = \"b\"\n[[service.call]]\ntimeout = 2\nretries = nan\n";
        let e = errors(text, |f, sink| {
            for mut s in f.tables(sink, "service") {
                s.req_text(sink, "name", expect::NAME);
                for mut c in s.tables(sink, "call") {
                    c.text(sink, "timeout", expect::DURATION);
                    c.int(sink, "retries");
                    c.finish(sink, &["timeout", "retries"]);
                }
                s.finish(sink, &["name", "call"]);
            }
        });
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("t.toml:2:8: service[0].name: write a name in quotes"), "{e:?}");
        assert!(e[0].ends_with("(found the number 1)"), "{e:?}");
        assert!(e[1].starts_with("t.toml:6:11: service[1].call[0].timeout: write a duration with a unit"), "{e:?}");
        assert!(e[2].contains("service[1].call[0].retries: write a whole number"), "{e:?}");
    }

    #[test]
    fn unknown_keys_suggest_the_nearest_known_one() {
        let e = errors("[a]\nreplicaz = 1\nzzzzzz = 2\n", |f, sink| {
            let a = f.table(sink, "a").unwrap();
            a.finish(sink, &["replicas", "name"]);
            f.finish(sink, &["a"]);
        });
        assert!(e[0].contains("a.replicaz: unknown key `replicaz` in [a]: did you mean `replicas`?"), "{e:?}");
        assert!(e[1].contains("known keys: replicas, name"), "{e:?}");
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        let e = errors("x = inf\ny = -nan\n", |f, sink| {
            f.number(sink, "x");
            f.number(sink, "y");
        });
        assert!(e[0].contains("x: inf is not a number meshsim can use"), "{e:?}");
        assert!(e[1].contains("y: nan is not a number"), "{e:?}");
    }

    #[test]
    fn syntax_errors_say_what_to_write() {
        let e = errors("[simulation]\nduration = \"1s\"\n[[service]]\nname = \"a\"\n[[service.call]]\ntimeout = 2s\n", |_, _| {});
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("t.toml:6:"), "{e:?}");
        assert!(e[0].contains("service[0].call[0].timeout: `2s` needs quotes"), "{e:?}");
        // Neither a key given twice nor a number too large for TOML is cured by quotes.
        let e = errors("[simulation]\nseed = 1\nseed = 2\n", |_, _| {});
        assert!(e[0].contains("simulation.seed: `seed` is given twice in this table: keep one"), "{e:?}");
        let e = errors("[simulation]\nseed = 18446744073709551615\n", |_, _| {});
        assert!(e[0].contains("simulation.seed: 18446744073709551615 is too large: a whole number in a TOML file is at most"), "{e:?}");
        let e = errors("version = 1\n[simulation]\nduration =", |_, _| {});
        assert!(e[0].contains("simulation.duration: the value is missing after `=`"), "{e:?}");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("replicas", "replicaz"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(nearest("cpu_requests", &["cpu_request", "memory_request"]), Some("cpu_request"));
        assert_eq!(nearest("qqq", &["cpu_request"]), None);
    }
}
