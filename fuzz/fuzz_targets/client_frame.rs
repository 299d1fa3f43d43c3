#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| smc_fuzz::client_frame(data));
