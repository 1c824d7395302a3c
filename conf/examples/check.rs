//! `cargo run -p conf --example check -- FILE...`: load each file (keepalived.conf
//! or `.toml`), print every diagnostic, and exit 1 if any has errors. With
//! `--toml`, also print the model as TOML.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut print_toml = false;
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        if arg == "--toml" {
            print_toml = true;
            continue;
        }
        let loaded = conf::load_file(Path::new(&arg), &conf::ParseOptions::default());
        eprint!("{}", loaded.diagnostics);
        if print_toml {
            println!("{}", conf::to_toml_string(&loaded.config));
        }
        failed |= loaded.diagnostics.has_errors();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
