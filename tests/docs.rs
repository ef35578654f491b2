//! The documentation stays in step with the code: every key the topology reader accepts is in
//! the topology reference, and every TOML example in the docs and the README parses (as a
//! topology when it is one, else as TOML).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The ```toml blocks of a page, each with the line it starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```toml" => current = Some((i + 1, String::new())),
            Some(_) if line.trim_start() == "```" => blocks.push(current.take().expect("open block")),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "a ```toml block is not closed");
    blocks
}

/// A block is a whole topology when it has the two tables every topology needs.
fn is_topology(block: &str) -> bool {
    let has = |table: &str| block.lines().any(|l| l.trim_start().starts_with(table));
    has("version") && has("[simulation]") && has("[[node]]")
}

/// `line` sets `key` (`key = …`, in a table, an inline table or a comment).
fn assigns(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
        !before.is_some_and(word) && line[i + key.len()..].trim_start().starts_with('=')
    })
}

/// Errors a reference excerpt may have: it names services, zones or nodes it does not
/// define. Unknown keys, wrong types and values out of range are never allowed.
fn is_reference_to_the_undefined(message: &str) -> bool {
    message.contains("does not exist") || message.contains("is not a node, zone or cluster")
}

#[test]
fn every_key_the_topology_reader_accepts_is_in_the_reference() {
    let reference = std::fs::read_to_string(root().join("docs/topology.md")).expect("docs/topology.md");
    let mut missing = Vec::new();
    for (table, keys) in meshsim::topology::ACCEPTED_KEYS {
        for key in *keys {
            let written = reference.contains(&format!("`{key}`"))
                || reference.contains(&format!("[{key}]"))
                || reference.contains(&format!(".{key}]"))
                || reference.lines().any(|l| assigns(l, key));
            if !written {
                missing.push(if table.is_empty() { key.to_string() } else { format!("{table}.{key}") });
            }
        }
    }
    assert!(missing.is_empty(), "keys the reader accepts that docs/topology.md does not describe: {missing:?}");
}

#[test]
fn every_toml_example_in_the_docs_parses() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for (line, block) in toml_blocks(&text) {
            let at = format!("{}:{line}", page.strip_prefix(root()).unwrap_or(&page).display());
            if let Err(e) = block.parse::<toml::Table>() {
                panic!("{at}: the example is not TOML: {e}");
            }
            if is_topology(&block) {
                // Read as if it were a bundled topology, so relative model paths resolve.
                let path = root().join("topologies").join("doc-example.toml");
                if let Err(errors) = meshsim::topology::parse(Path::new(&path), &block) {
                    let wrong: Vec<String> =
                        errors.0.iter().map(|e| e.message.clone()).filter(|m| !is_reference_to_the_undefined(m)).collect();
                    assert!(wrong.is_empty(), "{at}: the example is not a valid topology: {wrong:?}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no ```toml examples found");
}
