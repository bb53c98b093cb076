//! The Rust part of the demo: built by cargo, which redo runs from hello-rs.do.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "world".to_string());
    let adler = adler32(name.as_bytes());
    println!("hello, {name}, from Rust (cargo under redo); adler32={adler:08x}");
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &c in data {
        a = (a + c as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}
