//! Output folders that appear whole or not at all: files are written into a hidden staging
//! folder beside the target, and the folder is renamed into place only when every file is
//! written. A run that fails part-way leaves no `outputs/<name>/` behind.

use std::fs;
use std::path::{Path, PathBuf};

/// A staging folder that becomes `target` on [`StagedDir::commit`], and is removed if dropped uncommitted.
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Create an empty staging folder for `target` (its parent is created if missing).
    pub fn create(target: &Path) -> std::io::Result<StagedDir> {
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent)?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)?;
        Ok(StagedDir { staging, target: target.to_path_buf(), committed: false })
    }

    /// Where files are written until commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Replace `target` with the staged folder.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        if self.target.exists() {
            let old = self.staging.with_extension("old");
            fs::rename(&self.target, &old)?;
            fs::rename(&self.staging, &self.target)?;
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(&self.staging, &self.target)?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Write one file atomically: into a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}
