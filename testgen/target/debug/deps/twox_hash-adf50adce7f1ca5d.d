/work/main/testgen/target/debug/deps/twox_hash-adf50adce7f1ca5d.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/xxhash64.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/../README.md

/work/main/testgen/target/debug/deps/libtwox_hash-adf50adce7f1ca5d.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/xxhash64.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/../README.md

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/xxhash64.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/twox-hash-2.1.5/src/../README.md:
