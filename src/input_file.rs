//! Reading an input file before any parsing: only regular files (a FIFO would block, a
//! device such as `/dev/zero` never ends), at most [`MAX_INPUT_BYTES`], and UTF-8 text, with
//! the place of the first bad byte when it is not.

use std::io::Read;
use std::path::Path;

use crate::input_error::{line_col, InputError, InputErrors};
use crate::limits::MAX_INPUT_BYTES;

fn error(path: &Path, line: usize, col: usize, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line, col, message }])
}

/// Read `path` as text; `what` names the kind of file in messages ("topology", "sweep").
pub fn read_text(path: &Path, what: &str) -> Result<String, InputErrors> {
    let bytes = read_bytes(path, what)?;
    decode(path, bytes)
}

/// Read `path` whole, refusing anything that is not a regular file of at most [`MAX_INPUT_BYTES`].
pub fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>, InputErrors> {
    // Check before opening: opening a FIFO blocks until someone writes to it.
    let meta = std::fs::metadata(path).map_err(|e| error(path, 0, 0, format!("cannot read {what} file: {e}")))?;
    if meta.is_dir() {
        return Err(error(path, 0, 0, format!("is a folder: give a {what} file")));
    }
    if !meta.is_file() {
        return Err(error(path, 0, 0, format!("is not a regular file (a device, pipe or socket): give a {what} file")));
    }
    let too_large = |size: u64| {
        error(path, 0, 0, format!("{what} file is {size} bytes: input files are limited to {} MiB", MAX_INPUT_BYTES / (1024 * 1024)))
    };
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| error(path, 0, 0, format!("cannot read {what} file: {e}")))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the check and the read: never read past the limit.
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| error(path, 0, 0, format!("cannot read {what} file: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Bytes to text: UTF-8 only, a leading byte-order mark dropped (editors on Windows add one).
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, InputErrors> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
            let (line, col) = line_col(valid, at);
            Err(error(
                path,
                line,
                col,
                format!("the file is not UTF-8 text (byte 0x{:02x} here starts no character): save it as UTF-8", bytes[at]),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_names_its_line_and_column() {
        let e = decode(Path::new("t.toml"), b"a = 1\nb = \"x\xffy\"\n".to_vec()).unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].col), (2, 7));
        assert!(e.0[0].message.contains("UTF-8"), "{e}");
        assert_eq!(decode(Path::new("t.toml"), b"\xef\xbb\xbfa = 1".to_vec()).unwrap(), "a = 1");
    }

    #[test]
    fn folders_and_devices_are_refused_before_reading() {
        let e = read_text(Path::new(env!("CARGO_MANIFEST_DIR")), "topology").unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        if Path::new("/dev/zero").exists() {
            let e = read_text(Path::new("/dev/zero"), "topology").unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }
}
