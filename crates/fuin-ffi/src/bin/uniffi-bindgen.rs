//! UniFFI's bindings generator, built with this crate's version of UniFFI
//! so that the generated code matches the library (`bindings/generate.sh`).
#![forbid(unsafe_code)]

fn main() {
    uniffi::uniffi_bindgen_main();
}
