/work/main/testgen/target/debug/deps/ferrofix_testgen-3c139fb7b3522e48.d: src/lib.rs src/compress.rs src/frames.rs src/ipfix.rs src/netflow.rs src/pcap.rs src/pcapng.rs Cargo.toml

/work/main/testgen/target/debug/deps/libferrofix_testgen-3c139fb7b3522e48.rmeta: src/lib.rs src/compress.rs src/frames.rs src/ipfix.rs src/netflow.rs src/pcap.rs src/pcapng.rs Cargo.toml

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
