//! YAML text to a small tree of our own: every node keeps the line it starts on, scalars keep
//! their text (Kubernetes writes `"8080"` and `8080` alike), mapping keys are text. Read with
//! `saphyr` (YAML 1.2, spans on every node, duplicate keys refused, alias expansion bounded);
//! nothing outside this file sees its types.

use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::input_error::{InputError, InputErrors};

/// Nesting deeper than this is refused (no manifest nests so deep; the tree is walked recursively).
const MAX_DEPTH: usize = 200;

/// One YAML node and the line (1-based) where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A scalar, as text (`true`, `10`, `0.5`, `frontend:80`).
    Text(String),
    Seq(Vec<Node>),
    /// Entries in the order written.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a dotted path of mapping keys (`spec.template.spec`).
    pub fn at(&self, path: &str) -> Option<&Node> {
        path.split('.').try_fold(self, |n, k| n.get(k))
    }

    /// A scalar's text.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The text at a dotted path.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.at(path).and_then(Node::text)
    }

    /// A sequence's items (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// A mapping's entries (none for anything else).
    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }
}

fn error(path: &Path, line: usize, col: usize, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line, col, message }])
}

/// Every document of a YAML stream (empty documents left out).
pub fn documents(path: &Path, text: &str) -> Result<Vec<Node>, InputErrors> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        error(path, m.line().max(1), m.col() + 1, format!("not valid YAML: {}", e.info()))
    })?;
    let mut out = Vec::new();
    for d in &docs {
        let node = convert(path, d, 0)?;
        if node.value != Value::Null {
            out.push(node);
        }
    }
    Ok(out)
}

fn convert(path: &Path, y: &MarkedYaml<'_>, depth: usize) -> Result<Node, InputErrors> {
    let line = y.span.start.line().max(1);
    if depth > MAX_DEPTH {
        return Err(error(path, line, y.span.start.col() + 1, format!("YAML nested more than {MAX_DEPTH} levels deep")));
    }
    let value = match &y.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => Value::Text(text.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(|i| convert(path, i, depth + 1)).collect::<Result<_, _>>()?),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(s) => match scalar(s) {
                        Value::Text(t) => t,
                        _ => String::new(),
                    },
                    YamlData::Representation(text, _, _) => text.to_string(),
                    _ => {
                        return Err(error(
                            path,
                            k.span.start.line().max(1),
                            k.span.start.col() + 1,
                            "a mapping key that is not a scalar".into(),
                        ))
                    }
                };
                entries.push((key, convert(path, v, depth + 1)?));
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(path, inner, depth + 1),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(error(
                path,
                line,
                y.span.start.col() + 1,
                "a value YAML cannot resolve (an alias to nothing, or a tag that does not fit)".into(),
            ))
        }
    };
    Ok(Node { line, value })
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Text(b.to_string()),
        Scalar::Integer(i) => Value::Text(i.to_string()),
        Scalar::FloatingPoint(f) => Value::Text(f.to_string()),
        Scalar::String(t) => Value::Text(t.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines_and_scalars_their_text() {
        let text = "---\na: 1\nb:\n  - x: \"8080\"\n---\n---\nkind: List\n";
        let docs = documents(Path::new("m.yaml"), text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text_at("a"), Some("1"));
        assert_eq!(docs[0].get("b").unwrap().items()[0].text_at("x"), Some("8080"));
        assert_eq!(docs[0].get("b").unwrap().items()[0].line, 4);
        assert_eq!(docs[1].line, 7);
    }

    #[test]
    fn broken_yaml_names_its_line() {
        let e = documents(Path::new("m.yaml"), "a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.0[0].line >= 2 && e.0[0].message.contains("not valid YAML"), "{e}");
        let e = documents(Path::new("m.yaml"), "a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.0[0].path, Path::new("m.yaml"));
    }
}
