//! Decoding a body that was served as a JSON string literal (`"# HELP ...\n..."`).
//!
//! A strict RFC 8259 string decoder: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and
//! `\uXXXX` (surrogate pairs combined). Unescaped quotes or control characters, unknown
//! escapes, bad hex and unpaired surrogates make the input malformed.

use std::str::Chars;

/// Reads four hex digits.
fn hex4(chars: &mut Chars<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

/// Decodes the escape after a backslash (the backslash already consumed).
fn escape(chars: &mut Chars<'_>) -> Option<char> {
    Some(match chars.next()? {
        '"' => '"',
        '\\' => '\\',
        '/' => '/',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => {
            let hi = hex4(chars)?;
            match hi {
                0xD800..=0xDBFF => {
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let lo = hex4(chars)?;
                    if !(0xDC00..=0xDFFF).contains(&lo) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                }
                0xDC00..=0xDFFF => return None,
                _ => char::from_u32(hi)?,
            }
        }
        _ => return None,
    })
}

pub(crate) fn unwrap_json_string(body: &str) -> Option<String> {
    let inner = body.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    loop {
        let Some(at) = rest.find(|c: char| c == '\\' || c == '"' || c < ' ') else {
            out.push_str(rest);
            return Some(out);
        };
        out.push_str(&rest[..at]);
        let mut chars = rest[at..].chars();
        if chars.next()? != '\\' {
            return None;
        }
        out.push(escape(&mut chars)?);
        rest = chars.as_str();
    }
}

#[cfg(test)]
mod tests {
    use super::unwrap_json_string as unwrap;

    #[test]
    fn decodes_escapes() {
        assert_eq!(unwrap(r#""a\nb""#).as_deref(), Some("a\nb"));
        assert_eq!(unwrap(r#"  "q\"b\\s\/r\rt\tb\bf\f"  "#).as_deref(), Some("q\"b\\s/r\rt\tb\u{8}f\u{c}"));
        assert_eq!(unwrap(r#""\u0041\u00e9\u4e2d""#).as_deref(), Some("Aé中"));
        assert_eq!(unwrap(r#""\ud83d\ude00!""#).as_deref(), Some("😀!"));
        assert_eq!(unwrap(r#""\uD83D\uDE00""#).as_deref(), Some("😀"));
        assert_eq!(unwrap("\"ünïcode\"\n").as_deref(), Some("ünïcode"));
        assert_eq!(unwrap(r#""""#).as_deref(), Some(""));
    }

    #[test]
    fn rejects_non_strings() {
        for s in ["", "\"", "# HELP x y\nx 1\n", "x 1", "\"abc", "abc\"", "{\"a\":1}"] {
            assert_eq!(unwrap(s), None, "{s:?}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            r#""a"b""#,
            r#""a\""#,
            r#""\x""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\ude00""#,
            "\"a\nb\"",
            "\"tab\there\"",
        ] {
            assert_eq!(unwrap(s), None, "{s:?}");
        }
    }
}
