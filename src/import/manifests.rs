//! Kubernetes manifests as they come: one or many files or folders of YAML, multi-document
//! streams, `kind: List` (what `kubectl get -o yaml` prints), rendered Helm or Kustomize
//! output. Each object keeps its file, line, kind and name for the comments of what it gives.

use std::path::{Path, PathBuf};

use super::yaml::{self, Node};
use crate::input_error::{InputError, InputErrors};

/// Files read at most from the folders given (a folder of a whole repository is a mistake).
const MAX_FILES: usize = 10_000;

/// One Kubernetes object of the input.
#[derive(Clone, Debug)]
pub struct Object {
    /// The file as the user named it (or found under a folder they named).
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace`; `None` when the manifest leaves it to `kubectl -n`.
    pub namespace: Option<String>,
    pub node: Node,
}

impl Object {
    /// `file:line Kind ns/name`, as comments and the summary cite it.
    pub fn cite(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}:{} {} {ns}/{}", self.file, self.line, self.kind, self.name),
            None => format!("{}:{} {} {}", self.file, self.line, self.kind, self.name),
        }
    }

    /// Cite a field of the object at its own line.
    pub fn cite_at(&self, node: &Node, field: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{}:{} {} {ns}/{} {field}", self.file, node.line, self.kind, self.name),
            None => format!("{}:{} {} {} {field}", self.file, node.line, self.kind, self.name),
        }
    }
}

fn error(path: &Path, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line: 0, col: 0, message }])
}

/// The manifest files of the paths given: files as named, folders searched for `.yaml` and
/// `.yml` files (in name order, hidden ones skipped).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputErrors> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| error(dir, format!("cannot read folder: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        // Links to folders are not followed: a loop of links would never end.
        let meta = std::fs::symlink_metadata(&p).map_err(|e| error(&p, format!("cannot read: {e}")))?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            if out.len() >= MAX_FILES {
                return Err(error(dir, format!("more than {MAX_FILES} manifest files: name the folders of the application only")));
            }
            out.push(p);
        }
    }
    Ok(())
}

/// Every object of one file's text (`List` items flattened). A document that is not a
/// Kubernetes object (no `kind`) is an error naming its line.
pub fn objects(path: &Path, text: &str) -> Result<Vec<Object>, InputErrors> {
    let file = path.display().to_string();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for doc in yaml::documents(path, text)? {
        flatten(&file, doc, &mut out, &mut problems);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(InputErrors(
            problems.into_iter().map(|(line, message)| InputError { path: path.to_path_buf(), line, col: 1, message }).collect(),
        ))
    }
}

fn flatten(file: &str, doc: Node, out: &mut Vec<Object>, problems: &mut Vec<(usize, String)>) {
    let kind = doc.text_at("kind").map(str::to_string);
    let Some(kind) = kind else {
        problems.push((doc.line, "not a Kubernetes object: the document has no `kind`".into()));
        return;
    };
    if kind == "List" || (kind.ends_with("List") && doc.get("items").is_some()) {
        for item in doc.get("items").map(|i| i.items().to_vec()).unwrap_or_default() {
            flatten(file, item, out, problems);
        }
        return;
    }
    let name = doc.text_at("metadata.name").unwrap_or_default().to_string();
    if name.is_empty() && doc.get("metadata").is_some_and(|m| m.get("generateName").is_none()) {
        problems.push((doc.line, format!("{kind} without metadata.name")));
        return;
    }
    let namespace = doc.text_at("metadata.namespace").map(str::to_string);
    out.push(Object { file: file.to_string(), line: doc.line, kind, name, namespace, node: doc });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_flattened_and_objects_cite_their_line() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {name: a, namespace: x}\n- kind: Node\n  metadata:\n    name: n1\n";
        let objs = objects(Path::new("get.yaml"), text).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].cite(), "get.yaml:4 Service x/a");
        assert_eq!(objs[1].cite(), "get.yaml:6 Node n1");
    }

    #[test]
    fn a_document_without_kind_is_an_error_at_its_line() {
        let e = objects(Path::new("m.yaml"), "kind: Service\nmetadata: {name: a}\n---\nfoo: 1\n").unwrap_err();
        assert_eq!(e.0[0].line, 4);
        assert!(e.0[0].message.contains("no `kind`"), "{e}");
    }
}
