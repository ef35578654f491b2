//! Temporary files and folders of this process: names unique per process and per use, removal
//! when the process is interrupted (SIGINT, SIGTERM), and removal of those left behind by
//! meshsim processes that are no longer alive.
//!
//! Every temporary name is `.<base>.<kind>-<pid>-<n>-<machine>`: the process id says whose it
//! is, the counter `n` makes two uses in one process distinct, and `machine` says where that
//! process id means something (the host and its process-id namespace), so a run on another
//! machine sharing the folder (sweep shards on a shared file system) is never taken for gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The kinds of temporary names meshsim makes (the word before the process id).
const KINDS: [&str; 2] = ["staging", "tmp"];

/// Exit code of a command stopped by SIGINT or SIGTERM (the shell's code for Ctrl-C).
pub const INTERRUPTED_EXIT_CODE: i32 = 130;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// What to remove, and what to tell the user, when the process is interrupted.
#[derive(Default)]
struct Registry {
    paths: BTreeSet<PathBuf>,
    notes: Vec<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { paths: BTreeSet::new(), notes: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while the lock was held leaves the set usable: it only lists paths.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where this process's id is meaningful: 8 hex digits of the host's name and the process-id
/// namespace (containers on one host have their own). Empty when neither can be read.
fn machine() -> &'static str {
    static MACHINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MACHINE.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let namespace = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
        if host.is_empty() && namespace.is_empty() {
            return String::new();
        }
        super::digest::sha256_hex(format!("{}\n{namespace}", host.trim()).as_bytes())[..8].to_string()
    })
}

/// A temporary name for `base` in `dir`, unique to this process and this call.
pub fn unique(dir: &Path, base: &str, kind: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match machine() {
        "" => dir.join(format!(".{base}.{kind}-{}-{n}", std::process::id())),
        m => dir.join(format!(".{base}.{kind}-{}-{n}-{m}", std::process::id())),
    }
}

/// Remove `path` (a file or a folder) when the process is interrupted, until [`forget`].
pub fn register(path: &Path) {
    registry().paths.insert(path.to_path_buf());
}

/// `path` is no longer temporary (renamed into place, or removed).
pub fn forget(path: &Path) {
    registry().paths.remove(path);
}

/// A line printed if the process is interrupted from now on (e.g. where finished work is kept).
pub fn note_on_interrupt(note: String) {
    registry().notes.push(note);
}

/// Drop the lines added by [`note_on_interrupt`].
pub fn clear_notes() {
    registry().notes.clear();
}

/// Held while outputs are renamed into place; the interrupt handler waits for it.
static CRITICAL: Mutex<()> = Mutex::new(());

thread_local! {
    static IN_CRITICAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with interruption held off: a signal arriving meanwhile is handled when `f` returns,
/// so renames that put outputs in place are never cut in half. Nested calls run inside the
/// outer one.
pub fn uninterrupted<R>(f: impl FnOnce() -> R) -> R {
    if IN_CRITICAL.with(|c| c.get()) {
        return f();
    }
    let _guard = CRITICAL.lock().unwrap_or_else(|e| e.into_inner());
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_CRITICAL.with(|c| c.set(false));
        }
    }
    IN_CRITICAL.with(|c| c.set(true));
    let _reset = Reset;
    f()
}

/// Whether `name` is a temporary name meshsim makes (see [`unique`]).
pub fn is_temporary(name: &str) -> bool {
    owner(name).is_some()
}

fn remove(path: &Path) {
    let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
}

/// Remove every registered temporary path and return the notes; what an interrupt does.
fn clean_up(r: &mut Registry) -> Vec<String> {
    for p in std::mem::take(&mut r.paths) {
        remove(&p);
    }
    std::mem::take(&mut r.notes)
}

/// Handle SIGINT and SIGTERM for the rest of the process: remove temporary files and folders,
/// print the notes, and exit with [`INTERRUPTED_EXIT_CODE`].
pub fn install_interrupt_handler() -> std::io::Result<()> {
    use signal_hook::consts::signal::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("interrupt".into()).spawn(move || {
        if signals.forever().next().is_some() {
            let _critical = CRITICAL.lock().unwrap_or_else(|e| e.into_inner());
            let notes = clean_up(&mut registry());
            eprintln!("interrupted: temporary files removed");
            for n in notes {
                eprintln!("{n}");
            }
            std::process::exit(INTERRUPTED_EXIT_CODE);
        }
    })?;
    Ok(())
}

/// The process id in a temporary name made by [`unique`], and the machine it was made on
/// (`None` for names of earlier versions, which had no machine and no counter):
/// `.<base>.<kind>-<pid>[-<n>[-<machine>]]`.
fn owner(name: &str) -> Option<(u32, Option<&str>)> {
    if !name.starts_with('.') {
        return None;
    }
    KINDS.iter().find_map(|kind| {
        let marker = format!(".{kind}-");
        let rest = &name[name.rfind(&marker)? + marker.len()..];
        let parts: Vec<&str> = rest.split('-').collect();
        let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let machine = parts.get(2).copied();
        if parts.len() > 3
            || !parts.iter().take(2).all(digits)
            || machine.is_some_and(|m| m.len() != 8 || !m.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return None;
        }
        Some((parts[0].parse().ok()?, machine))
    })
}

/// When process `pid` started, in clock ticks since boot (`/proc/<pid>/stat`, field 22): with
/// the id, it tells a process from a later one given the same id.
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name, in parentheses, may hold spaces: count fields after its closing one.
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

/// What a lock file holds to name this process: its id and when it started.
pub fn lock_stamp() -> String {
    match start_ticks("self") {
        Some(t) => format!("{} {t}\n", std::process::id()),
        None => format!("{}\n", std::process::id()),
    }
}

/// The process a lock file's text (see [`lock_stamp`]) names, if it is another process that
/// is still running. Its name is not trusted either way (a meshsim under a profiler or a
/// renamed binary is named otherwise by the kernel): a live process of that id that started
/// when the lock says, or any live process of that id when the lock does not say when, holds
/// it. Without `/proc` nothing can be told, and the lock is taken for stale.
pub fn lock_holder(text: &str) -> Option<u32> {
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    if pid == std::process::id() || !Path::new("/proc/self").exists() || !Path::new(&format!("/proc/{pid}")).exists() {
        return None;
    }
    match (words.next().and_then(|w| w.parse::<u64>().ok()), start_ticks(&pid.to_string())) {
        (Some(locked), Some(now)) if locked != now => None,
        _ => Some(pid),
    }
}

/// Whether process `pid` may still be using its temporary names: it is this process, or any
/// live process. A live process is never taken for gone by its name: a meshsim run under
/// another name (a renamed binary, a profiler, a test harness) is still writing them, and
/// keeping the hidden names of a reused id costs nothing. Without `/proc` nothing can be told,
/// and everything is kept.
fn may_be_in_use(pid: u32) -> bool {
    pid == std::process::id() || !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove the temporary names in `dir` left by meshsim processes of this machine that are
/// gone (killed, or the machine stopped). Returns what was removed. Names of live processes,
/// of this process, of other machines or containers (whose process ids cannot be checked
/// here), and every name not of the form meshsim makes are left alone.
pub fn remove_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((pid, made_on)) = owner(&name) {
            if made_on.is_none_or(|m| m == machine()) && !may_be_in_use(pid) {
                remove(&e.path());
                removed.push(e.path());
            }
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_use_and_carry_the_process_id() {
        let a = unique(Path::new("out"), "faces", "staging");
        let b = unique(Path::new("out"), "faces", "staging");
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(owner(&name).map(|o| o.0), Some(std::process::id()));
        assert_eq!(owner(&name).and_then(|o| o.1), Some(machine()).filter(|m| !m.is_empty()));
    }

    #[test]
    fn owners_are_read_only_from_meshsim_names() {
        assert_eq!(owner(".faces.staging-42-7-0a1b2c3d"), Some((42, Some("0a1b2c3d"))));
        assert_eq!(owner(".faces.staging-42-7"), Some((42, None)));
        assert_eq!(owner(".faces.staging-42"), Some((42, None)));
        assert_eq!(owner(".summary.csv.tmp-9-0"), Some((9, None)));
        assert_eq!(owner(".faces.old-9-3"), None);
        assert_eq!(owner("faces.staging-42"), None);
        assert_eq!(owner(".faces.staging-x"), None);
        assert_eq!(owner(".faces.staging-42-7-1"), None);
        assert_eq!(owner(".faces.staging-42-7-0a1b2c3d-1"), None);
        assert_eq!(owner(".faces.staging-42-x-0a1b2c3d"), None);
        assert_eq!(owner(".notes.txt"), None);
        assert_eq!(owner(".faces.old"), None);
    }

    #[test]
    fn stale_names_of_dead_processes_are_removed_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("meshsim-temp-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A pid above the kernel's maximum (4194304) is never alive.
        let dead = dir.join(".faces.staging-4194999-0");
        std::fs::create_dir_all(dead.join("x")).unwrap();
        std::fs::write(dir.join(".a.csv.tmp-4194999-1"), "x").unwrap();
        let mine = unique(&dir, "faces", "staging");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::write(dir.join(".notes.tmp"), "user's").unwrap();
        std::fs::write(dir.join("keep.csv"), "user's").unwrap();
        let removed = remove_stale(&dir);
        if Path::new("/proc/self").exists() {
            assert_eq!(removed.len(), 2, "{removed:?}");
            assert!(!dead.exists());
        }
        assert!(mine.exists() && dir.join(".notes.tmp").exists() && dir.join("keep.csv").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_made_on_another_machine_are_kept_whatever_their_process_id() {
        // Shards of a sweep on other hosts (or containers) write into one shared folder: a
        // process id that is not running here may be running there.
        let dir = std::env::temp_dir().join(format!("meshsim-temp-machine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let other = if machine() == "00000000" { "11111111" } else { "00000000" };
        let theirs = dir.join(format!(".sweep-shard-1-of-4.csv.tmp-4194999-0-{other}"));
        std::fs::write(&theirs, "rows").unwrap();
        let ours = dir.join(format!(".sweep-shard-2-of-4.csv.tmp-4194999-0-{}", machine()));
        std::fs::write(&ours, "rows").unwrap();
        let removed = remove_stale(&dir);
        let kept = theirs.exists();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(kept, "removed {removed:?}");
        if Path::new("/proc/self").exists() && !machine().is_empty() {
            assert_eq!(removed, [ours], "a dead process of this machine's name is removed");
        }
    }

    #[test]
    fn names_of_a_live_process_not_named_meshsim_are_kept() {
        // A meshsim run under a profiler or as a renamed binary is named otherwise by the
        // kernel; a concurrent run in the same folder must not take its staging folder.
        let Ok(mut child) = std::process::Command::new("sleep").arg("30").spawn() else { return };
        let dir = std::env::temp_dir().join(format!("meshsim-temp-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let theirs = dir.join(format!(".faces.staging-{}-0", child.id()));
        std::fs::create_dir_all(theirs.join("x")).unwrap();
        let removed = remove_stale(&dir);
        let kept = theirs.exists();
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(removed.is_empty() && kept, "removed {removed:?}");
    }

    #[test]
    fn a_lock_is_held_by_a_live_process_whatever_its_name_and_not_by_a_reused_id() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let Ok(mut child) = std::process::Command::new("sleep").arg("30").spawn() else { return };
        let pid = child.id();
        let started = start_ticks(&pid.to_string());
        let live = lock_holder(&format!("{pid} {}\n", started.unwrap_or(0)));
        let old_format = lock_holder(&format!("{pid}\n"));
        let reused = lock_holder(&format!("{pid} {}\n", started.unwrap_or(0) + 1));
        let _ = child.kill();
        let _ = child.wait();
        assert!(started.is_some());
        assert_eq!((live, old_format, reused), (Some(pid), Some(pid), None));
        assert_eq!(lock_holder(&lock_stamp()), None, "this process's own lock");
        assert_eq!(lock_holder("4194999 1\n"), None, "a process that is gone");
        assert_eq!(lock_holder("not a pid"), None);
    }

    #[test]
    fn registered_paths_are_removed_on_interrupt() {
        let dir = std::env::temp_dir().join(format!("meshsim-temp-reg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        // A registry of the test's own: the process's one holds other tests' staging folders.
        let mut r = Registry::default();
        r.paths.insert(dir.clone());
        r.notes.push("kept".into());
        let notes = clean_up(&mut r);
        assert!(!dir.exists());
        assert_eq!(notes, vec!["kept".to_string()]);
    }
}
