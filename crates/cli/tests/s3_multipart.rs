//! Objects larger than the multipart threshold go up in parts to a real S3-compatible server
//! and come back whole, from memory and from a local file.

mod common;

use common::s3_server::{S3Server, SECRET_KEY};
use maskforge_store::Location;

#[test]
#[allow(unsafe_code)] // `set_var` is unsafe: this binary holds one test and no other thread yet
fn large_objects_go_up_in_parts_and_come_back_whole() {
    let server = S3Server::start();
    let bucket = server.bucket("large");
    // This test binary holds this one test, so its environment is its own.
    for (key, value) in server.env(SECRET_KEY) {
        unsafe { std::env::set_var(key, value) };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let size = 70 << 20; // three parts of 32 MiB
    let data: Vec<u8> = (0..size)
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();

    let from_memory = Location::parse("s3://large/from-memory.bin").unwrap();
    runtime
        .block_on(from_memory.write(bytes::Bytes::from(data.clone())))
        .unwrap();
    assert!(std::fs::read(bucket.join("from-memory.bin")).unwrap() == data);

    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), &data[..size - 12345]).unwrap();
    let from_file = Location::parse("s3://large/from-file.bin").unwrap();
    runtime.block_on(from_file.write_file(local.path())).unwrap();
    let back = runtime.block_on(from_file.read()).unwrap();
    assert!(back[..] == data[..size - 12345]);
}
