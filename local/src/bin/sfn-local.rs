//! `sfn-local`: see `sfn_local::cli` and the README.

use clap::Parser;

fn main() {
    let cli = sfn_local::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sfn-local: cannot start the async runtime: {e}");
            std::process::exit(sfn_local::cli::EXIT_INVALID);
        }
    };
    let code = runtime.block_on(sfn_local::cli::main_with(cli));
    std::process::exit(code);
}
