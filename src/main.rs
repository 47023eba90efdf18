use clap::Parser;

/// The process's allocator: mimalloc, not glibc's malloc. Why (issue 18,
/// BENCHMARKS.md, "The allocator, and what durability costs at 1M"):
/// glibc's malloc and free took ≈ 16 % of the server's samples (their own
/// time, `perf`) under unary load (the records store's buffers, the map's tiles:
/// thousands of allocations per batch); with mimalloc the server used
/// ≈ 7 % less CPU per entry and the fresh unary rate rose 10–16 % round by
/// round (13 % on the means). It is C (C++ only under MSVC), built by `cc`
/// as `ring` already is, and it gives freed pages back to the system by
/// itself (after its purge delay, on a later allocation or free: it has no
/// thread of its own), so the server's glibc heap trimming is switched off
/// (`server::memory`). The price is memory: 36–100 MB more RSS at rest
/// on logs of 1–2M entries (BENCHMARKS.md); a build without the default
/// `mimalloc` feature (`cargo build --release --no-default-features`)
/// keeps glibc's allocator and its trimming.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    #[cfg(feature = "mimalloc")]
    {
        // Before logging starts, and refused only where it cannot matter
        // beyond memory use (`no_huge_pages`): nothing to report.
        let _ = accord::server::memory::no_huge_pages();
        accord::server::memory::allocator_returns_memory();
    }
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
