//! Model profiles: matched sets of cost models, each from one source, one software version
//! and one kind of hardware, kept in `<models dir>/<profile>/profile.toml` beside their model
//! files. A topology names its profile with `mesh.profile`; figures of different profiles
//! were measured on different machines and do not compare directly.

use std::path::{Path, PathBuf};

use super::ProxyKind;
use crate::input_error::{ErrorSink, InputErrors};
use crate::toml_doc::{self, expect, Fields};

/// Where profiles are looked up when a topology gives no `mesh.models_dir`: the `models`
/// folder beside the topology's folder (`topologies/x.toml` finds `models/`).
pub const DEFAULT_MODELS_DIR: &str = "../models";

/// The file describing a profile, inside the profile's folder.
pub const PROFILE_FILE: &str = "profile.toml";

/// Folders looked at when listing the known profiles of a models folder: a bound on the
/// work of an error message.
const MAX_LISTED_PROFILES: usize = 200;

const SUPPORTED_VERSION: i64 = 1;

/// A profile as its `profile.toml` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    /// The profile's folder.
    pub dir: PathBuf,
    /// Where the numbers come from (a data set, a publication, a bench run).
    pub source: String,
    /// Proxy software and version measured.
    pub software: String,
    /// The machines they were measured on.
    pub hardware: String,
    /// Which question the profile answers.
    pub answers: String,
    /// Model file of each proxy kind the profile covers, resolved against its folder.
    pub models: Vec<(ProxyKind, PathBuf)>,
    /// Control-plane component model files of each proxy kind (`[control_plane]`): the
    /// control plane a placement deploying that kind runs. A kind left out has none modelled.
    pub control_plane: Vec<(ProxyKind, Vec<PathBuf>)>,
}

/// The `[models]` key of a proxy kind in `profile.toml`.
pub fn models_key(kind: ProxyKind) -> &'static str {
    match kind {
        ProxyKind::Sidecar => "sidecar",
        ProxyKind::NodeProxy => "node_proxy",
        ProxyKind::Ztunnel => "ztunnel",
        ProxyKind::Waypoint => "waypoint",
    }
}

/// Whether `name` can name a profile folder: letters, digits, `-`, `_`, `.`, starting with a
/// letter or digit (never a path).
pub fn check_name(name: &str) -> Result<(), String> {
    crate::limits::check_output_name(name).map_err(|e| e.replace("it names the output folder", "it names a folder of the models folder"))
}

/// The profiles of a models folder: its sub-folders holding a `profile.toml`, sorted.
pub fn known(models_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(models_dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .take(MAX_LISTED_PROFILES)
        .filter(|e| e.path().join(PROFILE_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// Read `<models_dir>/<name>/profile.toml`. Every problem in the file is reported at once,
/// against that file.
pub fn load(models_dir: &Path, name: &str) -> Result<Profile, InputErrors> {
    let dir = models_dir.join(name);
    let path = dir.join(PROFILE_FILE);
    let text = crate::input_file::read_text(&path, "model profile")?;
    parse(&path, &text)
}

/// Parse the text of a `profile.toml` read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Profile, InputErrors> {
    let doc = toml_doc::parse(path, text)?;
    let mut sink = ErrorSink::new(path, text);
    let mut root = Fields::root(&doc);
    root.req_version(&mut sink, SUPPORTED_VERSION, None);
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let name = root.req_text(&mut sink, "name", expect::NAME);
    if let Some(n) = &name {
        if *n.get_ref() != folder {
            sink.at(
                n.span(),
                format!("name: `{}` differs from the profile's folder `{folder}`: a profile is named by its folder", n.get_ref()),
            );
        }
    }
    let mut text_of = |sink: &mut ErrorSink, key: &str| root.req_text(sink, key, expect::TEXT).map(|s| s.into_inner()).unwrap_or_default();
    let source = text_of(&mut sink, "source");
    let software = text_of(&mut sink, "software");
    let hardware = text_of(&mut sink, "hardware");
    let answers = text_of(&mut sink, "answers");
    let _ = root.text(&mut sink, "not_covered", expect::TEXT);
    let mut models = Vec::new();
    if let Some(mut m) = root.req_table(&mut sink, "models") {
        for kind in ProxyKind::ALL {
            let Some(file) = m.text(&mut sink, models_key(kind), expect::FILE) else { continue };
            let p = dir.join(file.get_ref());
            if !p.is_file() {
                sink.at(
                    file.span(),
                    format!("{}: model file `{}` not found (paths are relative to the profile's folder)", file.path(), p.display()),
                );
            }
            models.push((kind, p));
        }
        let keys: Vec<&str> = ProxyKind::ALL.iter().map(|&k| models_key(k)).collect();
        m.finish(&mut sink, &keys);
    }
    let mut control_plane = Vec::new();
    if let Some(mut m) = root.table(&mut sink, "control_plane") {
        for kind in ProxyKind::ALL {
            let files = m.texts(&mut sink, models_key(kind), expect::FILE);
            if files.is_empty() {
                continue;
            }
            let mut paths = Vec::new();
            for file in files {
                let p = dir.join(file.get_ref());
                if !p.is_file() {
                    sink.at(
                        file.span(),
                        format!(
                            "{}: control-plane model file `{}` not found (paths are relative to the profile's folder)",
                            file.path(),
                            p.display()
                        ),
                    );
                }
                paths.push(p);
            }
            control_plane.push((kind, paths));
        }
        let keys: Vec<&str> = ProxyKind::ALL.iter().map(|&k| models_key(k)).collect();
        m.finish(&mut sink, &keys);
    }
    root.finish(&mut sink, &["version", "name", "source", "software", "hardware", "answers", "not_covered", "models", "control_plane"]);
    sink.finish()?;
    Ok(Profile { name: folder, dir, source, software, hardware, answers, models, control_plane })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_folder(folder: &str, text: &str) -> Result<Profile, InputErrors> {
        parse(&Path::new("/nonexistent/models").join(folder).join(PROFILE_FILE), text)
    }

    #[test]
    fn every_bundled_profile_reads_and_covers_at_least_one_kind() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let names = known(&dir);
        assert!(names.len() >= 5, "{names:?}");
        for n in names {
            let p = load(&dir, &n).unwrap_or_else(|e| panic!("{e}"));
            assert!(!p.models.is_empty() && !p.hardware.is_empty() && !p.answers.is_empty(), "{n}");
        }
    }

    #[test]
    fn a_name_unlike_its_folder_an_unknown_key_and_a_missing_file_are_reported_together() {
        let text = "version = 1\nname = \"other\"\nsource = \"s\"\nsoftware = \"v\"\nhardware = \"h\"\nanswers = \"a\"\ncolour = \"red\"\n\
                    [models]\nsidecar = \"absent.toml\"\nztunel = \"z.toml\"\n";
        let e = in_folder("mine", text).unwrap_err().to_string();
        assert!(e.contains(":2:8: name: `other` differs from the profile's folder `mine`"), "{e}");
        assert!(e.contains("unknown key `colour`"), "{e}");
        assert!(e.contains(":9:11: models.sidecar: model file"), "{e}");
        assert!(e.contains("models.ztunel: unknown key `ztunel` in [models]: did you mean `ztunnel`?"), "{e}");
    }

    #[test]
    fn names_that_are_paths_are_refused() {
        assert!(check_name("gsd-2025-gke").is_ok());
        for bad in ["..", "../x", "a/b", ".hidden", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
