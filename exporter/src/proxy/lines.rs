//! Cuts a response body into the pieces the proxy measures, whatever the network's read
//! boundaries: lines for NDJSON and SSE streams, the whole body for plain JSON. One buffer of
//! at most [`MAX_LINE_BYTES`] per stream; a longer piece is reported as [`Piece::TooLong`]
//! (the bytes themselves are forwarded by the caller, untouched).

/// The most one line of a stream may take in memory.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// The most a whole JSON body (a response not streamed) may take: it is held whole until its
/// end, so it is held to less than a line (its reading builds only the measured fields).
pub const MAX_WHOLE_BYTES: usize = 1 << 20;

/// How a body is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// NDJSON or SSE: one piece per `\n`-ended line (a `\r` before it dropped).
    Lines,
    /// One JSON document: the whole body is one piece.
    Whole,
}

/// One piece of the body.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Complete(&'a [u8]),
    /// Longer than the bound: dropped from measurement.
    TooLong,
}

pub struct Splitter {
    framing: Framing,
    max: usize,
    buffer: Vec<u8>,
    /// The current piece already outgrew the bound: skip to its end.
    overflow: bool,
}

impl Splitter {
    pub fn new(framing: Framing) -> Splitter {
        Splitter::with_bound(framing, MAX_LINE_BYTES)
    }

    pub fn with_bound(framing: Framing, max: usize) -> Splitter {
        Splitter { framing, max, buffer: Vec::new(), overflow: false }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Feeds one chunk; `each` sees every piece it completes.
    pub fn push(&mut self, mut chunk: &[u8], each: &mut dyn FnMut(Piece<'_>)) {
        if self.framing == Framing::Whole {
            self.append(chunk);
            return;
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&chunk[..end], &chunk[end + 1..]);
            chunk = rest;
            if self.overflow {
                self.overflow = false;
                each(Piece::TooLong);
            } else if self.buffer.is_empty() {
                // The common case: the whole line is in this chunk, no copy.
                if line.len() > self.max {
                    each(Piece::TooLong)
                } else {
                    each(Piece::Complete(trim_cr(line)))
                }
            } else {
                self.append(line);
                if self.overflow {
                    self.overflow = false;
                    each(Piece::TooLong);
                } else {
                    each(Piece::Complete(trim_cr(&self.buffer)));
                }
                self.buffer.clear();
            }
        }
        self.append(chunk);
    }

    /// The end of the body: the last piece, if any.
    pub fn finish(&mut self, each: &mut dyn FnMut(Piece<'_>)) {
        if self.overflow {
            each(Piece::TooLong);
        } else if !self.buffer.is_empty() {
            each(Piece::Complete(trim_cr(&self.buffer)));
        }
        self.buffer = Vec::new();
        self.overflow = false;
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overflow || bytes.is_empty() {
            return;
        }
        if self.buffer.len() + bytes.len() > self.max {
            self.overflow = true;
            // Give the memory back at once, not when the stream ends.
            self.buffer = Vec::new();
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(framing: Framing, max: usize, chunks: &[&[u8]]) -> Vec<Option<String>> {
        let mut out = Vec::new();
        let mut splitter = Splitter::with_bound(framing, max);
        let mut each = |p: Piece<'_>| {
            out.push(match p {
                Piece::Complete(line) => Some(String::from_utf8_lossy(line).into_owned()),
                Piece::TooLong => None,
            })
        };
        for chunk in chunks {
            splitter.push(chunk, &mut each);
        }
        splitter.finish(&mut each);
        out
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let got = pieces(Framing::Lines, 64, &[b"{\"a\":", b"1}\n{\"b\"", b":2}\r\n\n", b"tail"]);
        let want = ["{\"a\":1}", "{\"b\":2}", "", "tail"];
        assert_eq!(got, want.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>());
    }

    #[test]
    fn a_line_over_the_bound_is_reported_and_the_next_one_is_whole() {
        let long = vec![b'x'; 100];
        let got = pieces(Framing::Lines, 10, &[b"ok\nxx", &long, b"\nfine\n", &long, b"\n"]);
        assert_eq!(got, vec![Some("ok".into()), None, Some("fine".into()), None]);
        let got = pieces(Framing::Lines, 10, &[&long]);
        assert_eq!(got, vec![None]);
    }

    #[test]
    fn a_whole_body_is_one_piece_within_the_bound() {
        assert_eq!(pieces(Framing::Whole, 64, &[b"{\"a\":\n", b"1}"]), vec![Some("{\"a\":\n1}".into())]);
        assert_eq!(pieces(Framing::Whole, 4, &[b"{\"a\":", b"1}"]), vec![None]);
        assert_eq!(pieces(Framing::Whole, 4, &[]), Vec::<Option<String>>::new());
    }
}
