//! The `meshsim` binary: parse arguments, run the command, print `error: …` and pick the
//! exit code (2 for bad input, 1 for other failures).

use clap::Parser;

fn main() {
    let cli = meshsim::cli::Cli::parse();
    if let Err(e) = meshsim::report::temp::install_interrupt_handler() {
        eprintln!("warning: cannot handle Ctrl-C ({e}): an interrupted command may leave hidden temporary files");
    }
    if let Err(e) = meshsim::cli::run(cli) {
        for line in e.to_string().lines() {
            eprintln!("error: {line}");
        }
        std::process::exit(e.exit_code());
    }
}
