//! Output folders: which folders a command may write, and how its files get there.
//!
//! The rule: a command writes only into a folder that does not exist yet, an empty folder, or
//! a folder holding a previous meshsim output, recognised by the marker file
//! [`MARKER`] meshsim writes in every output folder. The marker names the input the output
//! came from; a folder holding the output of another input (two topologies with one `name`)
//! is refused unless `--force`. Any other non-empty folder is refused too; with `--force`
//! meshsim writes its files beside what the folder holds. In every case meshsim removes or
//! replaces only files it wrote itself (those the marker lists), never anything else.
//!
//! Files are written into a hidden staging folder first. A new output folder is renamed into
//! place whole; into an existing folder the files are moved one by one, with interrupts held
//! off, and the marker lists every file that may be meshsim's at each step.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::digest::sha256_hex;
use super::temp;
use serde::{Deserialize, Serialize};

/// Name of the marker file in every output folder.
pub const MARKER: &str = ".meshsim-output";

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The folder may not be written (exit 2: the user chooses another `--out`).
    #[error("{0}")]
    Refused(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

fn io_error(path: &Path, e: std::io::Error) -> OutputError {
    OutputError::Io(format!("{}: {e}", path.display()))
}

/// The input an output comes from: the command and the file it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub command: String,
    /// The input file or folder, absolute; `None` for commands of no single input (validate).
    pub path: Option<PathBuf>,
    /// SHA-256 of the input file's bytes, when it is a file.
    pub sha256: Option<String>,
    /// The second variant of `compare A B` (its file, and models replaced), with absolute paths.
    pub variant_b: Option<String>,
}

/// `path` as the marker names it: absolute, links resolved where it exists.
pub fn absolute(path: &Path) -> PathBuf {
    fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

impl Source {
    /// The source of a command that reads `path`.
    pub fn of_path(command: &str, path: &Path) -> Source {
        let abs = absolute(path);
        let sha256 = if abs.is_file() { fs::read(&abs).ok().map(|b| sha256_hex(&b)) } else { None };
        Source { command: command.into(), path: Some(abs), sha256, variant_b: None }
    }

    /// The source of a command of no single input file.
    pub fn of_command(command: &str) -> Source {
        Source { command: command.into(), path: None, sha256: None, variant_b: None }
    }

    /// What the marker records as the source, and compares.
    pub fn identity(&self) -> String {
        let a = match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("meshsim {}", self.command),
        };
        match &self.variant_b {
            Some(b) => format!("{a} vs {b}"),
            None => a,
        }
    }
}

/// The marker file: what a meshsim output folder holds the results of, and which files in it
/// meshsim wrote. Deterministic (no time, no process id), so reruns give the same bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub meshsim_version: String,
    pub command: String,
    pub source: String,
    #[serde(default)]
    pub source_sha256: String,
    /// Paths relative to the folder; meshsim replaces or removes these when it writes here again.
    #[serde(default)]
    pub files: Vec<String>,
}

impl Marker {
    fn new(source: &Source, files: Vec<String>) -> Marker {
        Marker {
            meshsim_version: env!("CARGO_PKG_VERSION").into(),
            command: source.command.clone(),
            source: source.identity(),
            source_sha256: source.sha256.clone().unwrap_or_default(),
            files,
        }
    }

    fn render(&self) -> String {
        format!(
            "# This folder holds meshsim output. When meshsim writes here again it replaces the\n\
             # files listed below and leaves every other file alone.\n{}",
            toml::to_string(self).unwrap_or_default()
        )
    }

    /// Read the marker of `dir`: `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Marker>, OutputError> {
        let path = dir.join(MARKER);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Marker>(&text)
                .map(|mut m| {
                    // Only names inside the folder: an edited marker never makes meshsim
                    // remove a file elsewhere.
                    m.files.retain(|f| {
                        let p = Path::new(f);
                        !f.is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)))
                    });
                    Some(m)
                })
                .map_err(|e| {
                    OutputError::Refused(format!(
                        "{}: not a meshsim marker ({}): remove it if this folder is not meshsim's output",
                        path.display(),
                        e.message()
                    ))
                }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    fn write(&self, dir: &Path) -> Result<(), OutputError> {
        let path = dir.join(MARKER);
        write_atomic(&path, self.render().as_bytes()).map_err(|e| io_error(&path, e))
    }
}

/// An output folder meshsim may write, as found before writing.
#[derive(Clone, Debug)]
pub enum Target {
    /// Nothing there yet: the folder is created whole.
    New(PathBuf),
    /// An existing folder (a symbolic link resolved to its target), with its marker if any.
    Existing { dir: PathBuf, marker: Option<Marker> },
}

/// Entries of a folder that are not meshsim's temporary names.
fn visible_entries(dir: &Path) -> Result<Vec<String>, OutputError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let name = e.map_err(|e| io_error(dir, e))?.file_name().to_string_lossy().into_owned();
        if !temp::is_temporary(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// May meshsim write the output of `source` into `out`? Checked before any work starts, and
/// again when the files are moved into place.
pub fn check(out: &Path, source: &Source, force: bool) -> Result<Target, OutputError> {
    let shown = out.display();
    let dir = match fs::symlink_metadata(out) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Target::New(out.to_path_buf())),
        Err(e) if e.kind() == ErrorKind::NotADirectory => {
            return Err(OutputError::Refused(format!("{shown}: a file stands where one of its folders should be: choose another --out")))
        }
        Err(e) => return Err(io_error(out, e)),
        Ok(m) if m.file_type().is_symlink() => match fs::metadata(out) {
            Ok(t) if t.is_dir() => fs::canonicalize(out).map_err(|e| io_error(out, e))?,
            Ok(_) => return Err(OutputError::Refused(format!("{shown} is a symbolic link to a file, not a folder: choose another --out"))),
            Err(_) => {
                return Err(OutputError::Refused(format!(
                    "{shown} is a symbolic link to `{}`, which does not exist: create that folder or choose another --out",
                    fs::read_link(out).map(|p| p.display().to_string()).unwrap_or_default()
                )))
            }
        },
        Ok(m) if !m.is_dir() => return Err(OutputError::Refused(format!("{shown} is a file, not a folder: choose another --out"))),
        Ok(_) => out.to_path_buf(),
    };
    let marker = Marker::read(&dir)?;
    match &marker {
        Some(m) if m.source != source.identity() && !force => Err(OutputError::Refused(format!(
            "{shown} holds the output of `{}` (meshsim {}), not of `{}`: two inputs with the same name? \
             Choose another --out, or pass --force to replace that output",
            m.source,
            m.command,
            source.identity()
        ))),
        Some(_) => Ok(Target::Existing { dir, marker }),
        None if force || visible_entries(&dir)?.is_empty() => Ok(Target::Existing { dir, marker }),
        None => Err(OutputError::Refused(format!(
            "{shown} is not empty and holds no meshsim output (it has no {MARKER} file): meshsim writes only into a new \
             or empty folder or its own output. Choose another --out, or pass --force to write meshsim's files beside \
             what the folder holds (nothing in it is removed or overwritten)"
        ))),
    }
}

/// Create `dir` for files written one at a time (sweep shards): check it like any output
/// folder, create it if new, and mark it if unmarked. The files' own names are meshsim's.
pub fn prepare_shared(dir: &Path, source: &Source, force: bool) -> Result<PathBuf, OutputError> {
    let resolved = match check(dir, source, force)? {
        Target::New(d) => {
            fs::create_dir_all(&d).map_err(|e| io_error(&d, e))?;
            d
        }
        Target::Existing { dir, .. } => dir,
    };
    // The marker lists no files: shards of one sweep write side by side and never remove
    // each other's files.
    let marker = Marker::read(&resolved)?;
    if marker.as_ref().map(|m| m.source != source.identity()).unwrap_or(true) {
        Marker::new(source, Vec::new()).write(&resolved)?;
    }
    Ok(resolved)
}

/// Files under `root`, as sorted relative paths with `/`.
fn files_under(root: &Path) -> Result<Vec<String>, OutputError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).map_err(|e| io_error(&root.join(&rel), e))? {
            let e = e.map_err(|e| io_error(root, e))?;
            let r = rel.join(e.file_name());
            if e.file_type().map_err(|x| io_error(&e.path(), x))?.is_dir() {
                stack.push(r);
            } else {
                out.push(r.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A staging folder whose files become the output folder on [`StagedDir::commit`]; removed if
/// dropped uncommitted, or if the process is interrupted.
pub struct StagedDir {
    staging: PathBuf,
    out: PathBuf,
    source: Source,
    force: bool,
    committed: bool,
}

impl StagedDir {
    /// Check `out` (see [`check`]) and create an empty staging folder for it: beside it when
    /// it is new, inside it when it exists. Stale temporary names of dead meshsim processes
    /// found there are removed first.
    pub fn create(out: &Path, source: &Source, force: bool) -> Result<StagedDir, OutputError> {
        let staging = match check(out, source, force)? {
            Target::New(d) => {
                let parent = d.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                temp::remove_stale(parent);
                let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
                temp::unique(parent, &name, "staging")
            }
            Target::Existing { dir, .. } => {
                temp::remove_stale(&dir);
                temp::unique(&dir, "meshsim", "staging")
            }
        };
        temp::register(&staging);
        fs::create_dir(&staging).map_err(|e| io_error(&staging, e))?;
        Ok(StagedDir { staging, out: out.to_path_buf(), source: source.clone(), force, committed: false })
    }

    /// Where files are written until commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Put the staged files in place; returns the output folder as given.
    pub fn commit(mut self) -> Result<PathBuf, OutputError> {
        temp::uninterrupted(|| self.commit_now())?;
        self.committed = true;
        temp::forget(&self.staging);
        Ok(self.out.clone())
    }

    fn commit_now(&self) -> Result<(), OutputError> {
        let files = files_under(&self.staging)?;
        if let Target::New(d) = check(&self.out, &self.source, self.force)? {
            Marker::new(&self.source, files.clone()).write(&self.staging)?;
            match fs::rename(&self.staging, &d) {
                Ok(()) => return Ok(()),
                // Another run created it meanwhile: write into it like any existing folder.
                Err(_) if d.exists() => {
                    let _ = fs::remove_file(self.staging.join(MARKER));
                }
                Err(e) => return Err(io_error(&d, e)),
            }
        }
        let Target::Existing { dir, marker } = check(&self.out, &self.source, self.force)? else {
            return Err(OutputError::Io(format!("{}: the folder disappeared while it was written", self.out.display())));
        };
        self.move_into(&dir, marker, &files)
    }

    /// Move the staged files into an existing folder, replacing meshsim's earlier files and
    /// nothing else.
    fn move_into(&self, dir: &Path, marker: Option<Marker>, files: &[String]) -> Result<(), OutputError> {
        let old: BTreeSet<String> = marker.as_ref().map(|m| m.files.iter().cloned().collect()).unwrap_or_default();
        if let Some(path) = foreign_in_the_way(dir, &old, files)? {
            return Err(OutputError::Refused(format!(
                "{}: a file of that name is already there and meshsim did not write it: move it away or choose another --out",
                path.display()
            )));
        }
        let new: BTreeSet<String> = files.iter().cloned().collect();
        // While files move, the marker lists every file that may be meshsim's, so an
        // interrupted move never leaves one of meshsim's files looking like the user's.
        Marker::new(&self.source, old.union(&new).cloned().collect()).write(dir)?;
        for f in files {
            let to = dir.join(f);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            fs::rename(self.staging.join(f), &to).map_err(|e| io_error(&to, e))?;
        }
        for f in old.difference(&new) {
            let path = dir.join(f);
            match fs::remove_file(&path) {
                Ok(()) => {
                    // Folders meshsim made for its files go when they are empty.
                    let mut p = path.parent();
                    while let Some(d) = p.filter(|d| *d != dir) {
                        if fs::remove_dir(d).is_err() {
                            break;
                        }
                        p = d.parent();
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Marker::new(&self.source, files.to_vec()).write(dir)?;
        fs::remove_dir_all(&self.staging).map_err(|e| io_error(&self.staging, e))
    }
}

/// The first path in `dir` that is not meshsim's and stands where one of `files` goes: a
/// file or folder of that name the marker does not list (the user's, even in a folder
/// meshsim wrote before), or a file where one of their folders goes. A concurrent run of the
/// same input may have just put one of its files there: the marker as it is now says so.
fn foreign_in_the_way(dir: &Path, listed: &BTreeSet<String>, files: &[String]) -> Result<Option<PathBuf>, OutputError> {
    let mut current: Option<BTreeSet<String>> = None;
    for f in files {
        let mut rel = PathBuf::new();
        let parts: Vec<_> = Path::new(f).components().collect();
        for (i, part) in parts.iter().enumerate() {
            rel.push(part);
            let path = dir.join(&rel);
            let Ok(meta) = fs::symlink_metadata(&path) else { break };
            let last = i + 1 == parts.len();
            if !last && meta.is_dir() {
                continue;
            }
            if last && !meta.is_dir() {
                if listed.contains(f.as_str()) {
                    break;
                }
                if current.is_none() {
                    current = Some(Marker::read(dir)?.map(|m| m.files.into_iter().collect()).unwrap_or_default());
                }
                if current.as_ref().is_some_and(|c| c.contains(f.as_str())) {
                    break;
                }
            }
            return Ok(Some(path));
        }
    }
    Ok(None)
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
            temp::forget(&self.staging);
        }
    }
}

/// May a command that writes the one file `path` (a merged sweep CSV, a synthetic topology)
/// replace what is there? Only a regular file whose first bytes `ours` recognises as
/// meshsim's; nothing there at all is fine. Anything else (another file, text or not, a
/// folder, a link to nothing) is refused, saying what it is not (`what`).
pub fn may_replace_file(path: &Path, what: &str, ours: impl Fn(&[u8]) -> bool) -> Result<(), OutputError> {
    use std::io::Read;
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(path, e)),
        Ok(_) => {}
    }
    // The first bytes are enough to recognise a file; a large file of the user's is not read whole.
    let mut head = Vec::new();
    let read = fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    if read.is_ok() && fs::metadata(path).is_ok_and(|m| m.is_file()) && ours(&head) {
        return Ok(());
    }
    Err(OutputError::Refused(format!("{} exists and is not {what}: meshsim does not overwrite it; choose another file", path.display())))
}

/// Write one file atomically: into a temporary file beside it, then rename. A failed write
/// (a full disk) removes the temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    temp::remove_stale(parent);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = temp::unique(parent, &name, "tmp");
    temp::register(&tmp);
    let result = fs::write(&tmp, bytes).and_then(|()| temp::uninterrupted(|| fs::rename(&tmp, path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    temp::forget(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("meshsim-outdir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn stage(out: &Path, source: &Source, files: &[&str]) -> Result<PathBuf, OutputError> {
        let s = StagedDir::create(out, source, false)?;
        for f in files {
            let path = s.file(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, f).unwrap();
        }
        s.commit()
    }

    #[test]
    fn a_rerun_replaces_meshsim_files_removes_its_stale_ones_and_keeps_the_rest() {
        let d = scratch("rerun");
        let out = d.join("out");
        let src = Source::of_command("compare");
        stage(&out, &src, &["a.csv", "b.csv"]).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        stage(&out, &src, &["a.csv"]).unwrap();
        let mut names: Vec<String> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, [".meshsim-output", "a.csv", "notes.txt"]);
        assert_eq!(Marker::read(&out).unwrap().unwrap().files, ["a.csv"]);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn an_edited_marker_never_reaches_outside_the_folder() {
        let d = scratch("escape");
        let out = d.join("out");
        let src = Source::of_command("compare");
        stage(&out, &src, &["a.csv"]).unwrap();
        fs::write(d.join("precious.txt"), "keep").unwrap();
        let mut m = Marker::read(&out).unwrap().unwrap();
        m.files = vec!["a.csv".into(), "../precious.txt".into(), "/etc/hostname".into()];
        fs::write(out.join(MARKER), m.render()).unwrap();
        assert_eq!(Marker::read(&out).unwrap().unwrap().files, ["a.csv"]);
        stage(&out, &src, &["b.csv"]).unwrap();
        assert!(d.join("precious.txt").is_file());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_of_the_users_named_like_a_new_output_is_refused_and_kept() {
        // A folder of meshsim's where the user saved notes under a name a later command of
        // the same input writes (a `run`'s folder, then `blast` writes blast.md there).
        let d = scratch("users-name");
        let out = d.join("out");
        let src = Source::of_command("compare");
        stage(&out, &src, &["a.csv"]).unwrap();
        fs::write(out.join("b.md"), "my notes").unwrap();
        fs::write(out.join("charts"), "my file").unwrap();
        let e = stage(&out, &src, &["a.csv", "b.md"]).unwrap_err().to_string();
        assert!(e.contains("b.md") && e.contains("did not write"), "{e}");
        let e = stage(&out, &src, &["a.csv", "charts/x.svg"]).unwrap_err().to_string();
        assert!(e.contains("charts") && e.contains("did not write"), "{e}");
        assert_eq!(fs::read_to_string(out.join("b.md")).unwrap(), "my notes");
        assert_eq!(fs::read_to_string(out.join("charts")).unwrap(), "my file");
        assert_eq!(Marker::read(&out).unwrap().unwrap().files, ["a.csv"]);
        // Files meshsim listed are its own to replace, in folders of its own too.
        stage(&out, &src, &["a.csv", "sub/c.csv"]).unwrap();
        stage(&out, &src, &["a.csv", "sub/c.csv", "sub/d.csv"]).unwrap();
        assert_eq!(Marker::read(&out).unwrap().unwrap().files, ["a.csv", "sub/c.csv", "sub/d.csv"]);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_where_a_folder_of_the_path_goes_is_refused() {
        let d = scratch("file-in-path");
        fs::write(d.join("notes.txt"), "mine").unwrap();
        let e = stage(&d.join("notes.txt/out"), &Source::of_command("compare"), &["a.csv"]).unwrap_err();
        assert!(matches!(e, OutputError::Refused(_)), "{e}");
        assert_eq!(fs::read_to_string(d.join("notes.txt")).unwrap(), "mine");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn another_source_is_refused_and_named() {
        let d = scratch("other-source");
        let out = d.join("out");
        stage(&out, &Source::of_command("validate"), &["a.csv"]).unwrap();
        let e = stage(&out, &Source::of_command("compare"), &["a.csv"]).unwrap_err().to_string();
        assert!(e.contains("meshsim validate") && e.contains("meshsim compare") && e.contains("--force"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }
}
