//! Coverage-guided fuzzing of the TOML front end: any bytes, read as a topology, a cost model
//! and a sweep file, must give a value or input errors with a message, never a panic.
//! Run from the project folder: `cargo +nightly fuzz run toml_front_end topologies models examples`.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.toml");
    let Ok(text) = meshsim::input_file::decode(path, data.to_vec()) else { return };
    for errors in [
        meshsim::topology::parse(path, &text).err(),
        meshsim::model::parse(path, &text).err(),
        meshsim::sweep::spec::parse(path, &text).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!errors.0.is_empty());
        assert!(errors.0.iter().all(|e| !e.message.trim().is_empty()), "{errors}");
    }
});
