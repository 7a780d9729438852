/work/main/testgen/target/debug/deps/ferrofix_testgen-af66c2df9d92a8da.d: src/lib.rs src/compress.rs src/frames.rs src/ipfix.rs src/netflow.rs src/pcap.rs src/pcapng.rs Cargo.toml

/work/main/testgen/target/debug/deps/libferrofix_testgen-af66c2df9d92a8da.rmeta: src/lib.rs src/compress.rs src/frames.rs src/ipfix.rs src/netflow.rs src/pcap.rs src/pcapng.rs Cargo.toml

src/lib.rs:
src/compress.rs:
src/frames.rs:
src/ipfix.rs:
src/netflow.rs:
src/pcap.rs:
src/pcapng.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
