//! `meshsim import`: read manifests (and observed traffic), check the topology they give with
//! the topology's own reader, print the summary, and write the file (unless `--check`).

use std::path::{Component, Path, PathBuf};

use super::AppError;
use crate::import::{self, Imported, Options};
use crate::input_error::{InputError, InputErrors};

/// What the command was asked.
pub struct ImportArgs {
    pub inputs: Vec<PathBuf>,
    pub traces: Vec<PathBuf>,
    pub metrics: Vec<PathBuf>,
    /// `--metrics-window`: the time text metrics' counters counted over.
    pub metrics_window: Option<String>,
    pub out: Option<PathBuf>,
    pub check: bool,
    pub name: Option<String>,
    /// `mesh.models_dir` to write; default: the project's `models/` as seen from the output file.
    pub models: Option<String>,
    pub profile: String,
}

/// `to` relative to the folder `from` (both absolute), as a path with `/`.
fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn absolute(p: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let joined = cwd.join(p);
    // Without `..` and `.` where the path does not exist yet.
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Import, check and (unless `check`) write; the summary is returned for the terminal.
pub fn import(a: &ImportArgs) -> Result<Imported, AppError> {
    // Where the file goes (or would go), so that models_dir is written as seen from there.
    let target = match &a.out {
        Some(o) => absolute(o),
        None => absolute(Path::new("imported.toml")),
    };
    let folder = target.parent().map(Path::to_path_buf).unwrap_or_default();
    let models_dir = match &a.models {
        Some(m) => m.clone(),
        None => relative(&folder, &absolute(Path::new("models"))),
    };
    if let Some(out) = &a.out {
        crate::report::outdir::may_replace_file(out, "a topology meshsim import wrote", |head| {
            head.starts_with(import::FIRST_LINE.as_bytes())
        })
        .map_err(|e| AppError::arg("--out", e.to_string()))?;
    }
    let metrics_window_s = match &a.metrics_window {
        None => None,
        Some(w) => match super::duration_arg("--metrics-window", w)? {
            0 => return Err(AppError::arg("--metrics-window", "must be more than zero")),
            ns => Some(ns as f64 / 1e9),
        },
    };
    let options = |models_dir: String| Options {
        manifests: a.inputs.clone(),
        traces: a.traces.clone(),
        metrics: a.metrics.clone(),
        metrics_window_s,
        name: a.name.clone(),
        models_dir,
        profile: a.profile.clone(),
    };
    let imported = import::import(&options(models_dir.clone()))?;
    // The text must run as it is: read it as `run` would. The folder it goes to may not exist
    // yet, so the check reads the models from where they are.
    let models_abs = absolute(&folder.join(&models_dir));
    let checked = import::write::topology_text(
        &imported.found,
        &import::write::Settings { models_dir: &models_abs.to_string_lossy(), profile: &a.profile, inputs: &[] },
    );
    if let Err(e) = crate::topology::parse(&std::env::current_dir().unwrap_or_default().join("imported.toml"), &checked) {
        let first = a.inputs.first().cloned().unwrap_or_default();
        return Err(AppError::Input(InputErrors(
            e.0.into_iter()
                .map(|e| InputError {
                    path: first.clone(),
                    line: 0,
                    col: 0,
                    message: format!("the imported topology does not run: {}", e.message),
                })
                .collect(),
        )));
    }
    if let (Some(out), false) = (&a.out, a.check) {
        crate::report::outdir::write_atomic(out, imported.text.as_bytes())
            .map_err(|e| AppError::Output(format!("{}: {e}", out.display())))?;
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(relative(Path::new("/p/topologies"), Path::new("/p/models")), "../models");
        assert_eq!(relative(Path::new("/p"), Path::new("/p/models")), "models");
        assert_eq!(relative(Path::new("/tmp/x"), Path::new("/p/models")), "../../p/models");
    }
}
