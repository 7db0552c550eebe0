//! Sample values and timestamps.
//!
//! Values follow Go's `strconv.ParseFloat` as used by Prometheus clients: integers, decimals,
//! exponents (`1e+06`), `.5`, `-0`, `NaN`/`Inf`/`+Inf`/`-Inf` in any case, plus the MSVC
//! spellings `nan(ind)` and `-nan(ind)`. Hexadecimal floats are not accepted.
//!
//! Short plain decimals (the vast majority of values) are converted on a fast path that is
//! exact (Clinger's method: a mantissa below 2^53 divided by an exact power of ten); all other
//! tokens go through `str::parse::<f64>`.

use super::tokens::{fail, LexResult};

/// Powers of ten that are exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Splits off the token before the first space or tab.
#[inline]
fn token(i: &str) -> (&str, &str) {
    let end = i.bytes().position(|b| b == b' ' || b == b'\t').unwrap_or(i.len());
    // `end` is on an ASCII byte or at the end, so on a char boundary.
    i.split_at(end)
}

/// Exact conversion of `[+-]digits[.digits]` when the mantissa fits in 53 bits.
#[inline]
fn fast_decimal(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for (idx, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                count += 1;
            }
            b'.' if frac.is_none() => frac = Some(idx),
            _ => return None,
        }
    }
    let frac_digits = frac.map_or(0, |dot| digits.len() - dot - 1);
    if count == 0 || count > 19 || mantissa > (1u64 << 53) || frac_digits >= POW10.len() {
        return None;
    }
    let v = mantissa as f64 / POW10[frac_digits];
    Some(if neg { -v } else { v })
}

/// Converts one value token (no surrounding blanks) to `f64`.
pub fn parse_float(tok: &str) -> Option<f64> {
    let b = tok.as_bytes();
    if let Some(b'0'..=b'9' | b'.' | b'+' | b'-') = b.first() {
        if let Some(v) = fast_decimal(b) {
            return Some(v);
        }
    }
    if let Ok(v) = tok.parse::<f64>() {
        return Some(v);
    }
    let unsigned = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    if unsigned.eq_ignore_ascii_case("nan(ind)") {
        return Some(f64::NAN);
    }
    None
}

/// A sample value: the token up to the next blank, converted to `f64`.
pub fn parse_value(i: &str) -> LexResult<'_, f64> {
    let (tok, rest) = token(i);
    if tok.is_empty() {
        return fail(i, "missing value");
    }
    match parse_float(tok) {
        Some(v) => Ok((rest, v)),
        None => fail(i, "invalid value"),
    }
}

/// A timestamp: integer milliseconds (Prometheus text format) or, when the token has a
/// fraction or an exponent, seconds (OpenMetrics), converted to milliseconds and rounded.
pub fn parse_timestamp(i: &str) -> LexResult<'_, i64> {
    let (tok, rest) = token(i);
    if tok.is_empty() {
        return fail(i, "missing timestamp");
    }
    let unsigned = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return match tok.parse::<i64>() {
            Ok(ms) => Ok((rest, ms)),
            Err(_) => fail(i, "timestamp out of range"),
        };
    }
    match parse_float(tok) {
        Some(secs) if secs.is_finite() => {
            let ms = (secs * 1000.0).round();
            // Both bounds are exact in f64; `as` is then lossless.
            if (-9.2e18..=9.2e18).contains(&ms) {
                Ok((rest, ms as i64))
            } else {
                fail(i, "timestamp out of range")
            }
        }
        _ => fail(i, "invalid timestamp"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> f64 {
        parse_float(s).unwrap_or_else(|| panic!("{s:?} should parse"))
    }

    #[test]
    fn plain_numbers() {
        assert_eq!(parse_value("57"), Ok(("", 57.0)));
        assert_eq!(parse_value("1.57895 1700000000000"), Ok((" 1700000000000", 1.57895)));
        assert_eq!(parse_value("0.080463\t#"), Ok(("\t#", 0.080463)));
        assert_eq!(value("-0").to_bits(), (-0.0f64).to_bits());
        assert_eq!(value("+3"), 3.0);
        assert_eq!(value(".5"), 0.5);
        assert_eq!(value("5."), 5.0);
        assert_eq!(value("-.25"), -0.25);
        assert_eq!(value("9223372036854775794"), 9223372036854775794.0);
        assert_eq!(value("12345678901234567890123"), 1.2345678901234568e22);
    }

    #[test]
    fn exponents() {
        assert_eq!(value("1e+06"), 1e6);
        assert_eq!(value("2.805e+09"), 2.805e9);
        assert_eq!(value("1.1251e+10"), 1.1251e10);
        assert_eq!(value("1E-3"), 0.001);
        assert_eq!(value("-4.5e2"), -450.0);
    }

    #[test]
    fn specials() {
        for s in ["NaN", "nan", "NAN", "-nan", "+NaN", "nan(ind)", "-nan(ind)", "NaN(IND)"] {
            assert!(value(s).is_nan(), "{s}");
        }
        for s in ["+Inf", "Inf", "inf", "INF", "infinity", "+Infinity"] {
            assert_eq!(value(s), f64::INFINITY, "{s}");
        }
        for s in ["-Inf", "-inf", "-Infinity"] {
            assert_eq!(value(s), f64::NEG_INFINITY, "{s}");
        }
    }

    #[test]
    fn rejects() {
        for s in ["", ".", "-", "+", "1.2.3", "1e", "e5", "0x1p3", "1_000", "abc", "1,5", "--1", "nan(", "1 2"] {
            assert_eq!(parse_float(s), None, "{s:?}");
        }
        assert_eq!(
            parse_value(" 1"),
            Err(nom::Err::Error(super::super::tokens::LexError { input: " 1", message: "missing value" }))
        );
        assert!(parse_value("x1 2").is_err());
    }

    #[test]
    fn fast_path_matches_std() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 100_000_000;
            let frac = (x >> 32) % 1_000_000;
            let width = ((x >> 56) % 7) as usize;
            let s = format!("{int}.{frac:0width$}");
            assert_eq!(value(&s).to_bits(), s.parse::<f64>().unwrap().to_bits(), "{s}");
            let s = format!("-{}", x >> 11);
            assert_eq!(value(&s).to_bits(), s.parse::<f64>().unwrap().to_bits(), "{s}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1700000000123"), Ok(("", 1_700_000_000_123)));
        assert_eq!(parse_timestamp("-5 # x"), Ok((" # x", -5)));
        assert_eq!(parse_timestamp("+7"), Ok(("", 7)));
        assert_eq!(parse_timestamp("1520879607.789 "), Ok((" ", 1_520_879_607_789)));
        assert_eq!(parse_timestamp("1.5e3"), Ok(("", 1_500_000)));
        assert!(parse_timestamp("99999999999999999999").is_err());
        assert!(parse_timestamp("1e300").is_err());
        assert!(parse_timestamp("NaN").is_err());
        assert!(parse_timestamp("+Inf").is_err());
        assert!(parse_timestamp("12ab").is_err());
        assert!(parse_timestamp("").is_err());
    }
}
