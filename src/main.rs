use clap::Parser;

fn main() {
    let cli = accord::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    if let Err(e) = runtime.block_on(accord::cli::run(cli)) {
        eprintln!("accord: error: {}", e.message);
        std::process::exit(e.code);
    }
}
