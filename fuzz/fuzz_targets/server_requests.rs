#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| smc_fuzz::server_requests(data));
