//! Compiles proto/accord/v1/accord.proto with protox (a pure-Rust protobuf
//! compiler), so building Accord needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/accord/v1/accord.proto"], ["proto"])?;
    // The descriptors, for server reflection (lib.rs: proto::FILE_DESCRIPTOR_SET).
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("accord_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
