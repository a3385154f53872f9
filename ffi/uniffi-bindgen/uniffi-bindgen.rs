//! `cargo run -p uniffi-bindgen -- generate --library target/debug/libfieldcase_ffi.so …`:
//! the bindings generator at exactly the uniffi version the library was built with.

fn main() {
    uniffi::uniffi_bindgen_main()
}
