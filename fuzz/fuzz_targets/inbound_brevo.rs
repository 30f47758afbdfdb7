#![no_main]
// Each target uses one function of the shared harness.
#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::inbound_brevo(data));
