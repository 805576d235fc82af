//! Durations (`90s`, `1h30m`, `PT5M`): `executor::input::duration::Span`'s
//! `FromStr`, then printing the result with `format_duration` and reading
//! the printed text back.
//!
//! Property: a span or an error, never a panic, a hang or unbounded memory.
//! (The printed form is read back for coverage only: it rounds to
//! milliseconds, so the round trip is not asserted.)

#![no_main]

use executor::input::duration::{Span, format_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Span>() {
        Ok(span) => {
            let printed = format_duration(span.0);
            let _ = printed.parse::<Span>();
            let _ = span.to_string();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
