//! A small RFC 4180 CSV reader for the legacy import: comma-separated fields, records ending in
//! CRLF or LF, fields in double quotes may hold commas, line breaks and doubled quotes (`""`).
//! A UTF-8 byte order mark at the start is skipped; blank lines are skipped. Anything else is an
//! error naming the line: a quote inside an unquoted field, text after a closing quote, a quote
//! never closed, a lone CR, invalid UTF-8, and input past the limits (file size, record length,
//! field count), which keep a hostile file from taking the memory of the machine.

/// Limits on what is read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_file_bytes: usize,
    /// Characters in one record (all its fields and lines).
    pub max_record_chars: usize,
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_record_chars: 16 * 1024,
            max_fields: 32,
        }
    }
}

/// One record and the line it starts on (1-based, the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    pub line: u64,
    pub message: String,
}

fn err(line: u64, message: &str) -> CsvError {
    CsvError {
        line,
        message: message.to_owned(),
    }
}

/// Reads every record of `input`.
pub fn parse(input: &[u8], limits: Limits) -> Result<Vec<Record>, CsvError> {
    if input.len() > limits.max_file_bytes {
        return Err(err(
            1,
            &format!("the file is larger than {} bytes", limits.max_file_bytes),
        ));
    }
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64;
        err(line, "the file is not valid UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chars = text.chars().peekable();
    let mut line: u64 = 1;
    let mut records = Vec::new();
    while chars.peek().is_some() {
        let start = line;
        let mut fields: Vec<String> = Vec::new();
        let mut record_chars = 0usize;
        loop {
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(err(start, "a quoted field is never closed")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                    record_chars += 1;
                    if record_chars > limits.max_record_chars {
                        return Err(err(
                            start,
                            &format!("the record is longer than {} characters", limits.max_record_chars),
                        ));
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                    return Err(err(line, "text after a closing quote (quote the whole field)"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' | '\r' | '\n' => break,
                        '"' => {
                            return Err(err(
                                line,
                                "a quote inside an unquoted field (quote the field and double the quote)",
                            ))
                        }
                        _ => {
                            field.push(c);
                            chars.next();
                            record_chars += 1;
                            if record_chars > limits.max_record_chars {
                                return Err(err(
                                    start,
                                    &format!("the record is longer than {} characters", limits.max_record_chars),
                                ));
                            }
                        }
                    }
                }
            }
            fields.push(field);
            if fields.len() > limits.max_fields {
                return Err(err(start, &format!("more than {} fields", limits.max_fields)));
            }
            match chars.next() {
                Some(',') => continue,
                Some('\r') => {
                    if chars.next() != Some('\n') {
                        return Err(err(line, "a carriage return without a line feed"));
                    }
                    line += 1;
                    break;
                }
                Some('\n') => {
                    line += 1;
                    break;
                }
                None => break,
                Some(_) => unreachable!("a field ends at a comma, a line end or the end"),
            }
        }
        let blank = fields.len() == 1 && fields[0].is_empty();
        if !blank {
            records.push(Record { line: start, fields });
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &str) -> Vec<(u64, Vec<&str>)> {
        // Leak the parsed strings for easy comparison in tests.
        parse(input.as_bytes(), Limits::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.line,
                    r.fields.into_iter().map(|f| &*Box::leak(f.into_boxed_str())).collect(),
                )
            })
            .collect()
    }

    fn error(input: &[u8], limits: Limits) -> CsvError {
        parse(input, limits).unwrap_err()
    }

    #[test]
    fn plain_quoted_and_crlf() {
        assert_eq!(
            rows("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n"),
            [(1, vec!["a", "b", "c"]), (2, vec!["1", "x, y", "say \"hi\""])]
        );
        assert_eq!(rows("a,b\n1,2"), [(1, vec!["a", "b"]), (2, vec!["1", "2"])]);
        assert_eq!(rows("a,,\n"), [(1, vec!["a", "", ""])]);
        assert_eq!(rows("\"\",x\n"), [(1, vec!["", "x"])]);
    }

    #[test]
    fn quoted_line_breaks_count_lines() {
        assert_eq!(
            rows("h\n\"two\nlines\"\nnext\n"),
            [(1, vec!["h"]), (2, vec!["two\nlines"]), (4, vec!["next"])]
        );
    }

    #[test]
    fn bom_and_blank_lines() {
        assert_eq!(
            rows("\u{feff}a,b\n\n1,2\r\n\r\n"),
            [(1, vec!["a", "b"]), (3, vec!["1", "2"])]
        );
        assert!(rows("").is_empty());
    }

    #[test]
    fn hostile_input_is_refused_with_its_line() {
        let l = Limits::default();
        assert_eq!(error(b"a\nb\"c\n", l).line, 2);
        assert_eq!(
            error(b"a\n\"b\"c\n", l).message,
            "text after a closing quote (quote the whole field)"
        );
        assert_eq!(
            error(b"a\nb\n\"never closed\n\n", l),
            err(3, "a quoted field is never closed")
        );
        assert_eq!(error(b"a\rb\n", l).message, "a carriage return without a line feed");
        assert_eq!(error(b"ok\n\xff\xfe\n", l), err(2, "the file is not valid UTF-8"));
        let small = Limits {
            max_file_bytes: 100,
            max_record_chars: 10,
            max_fields: 3,
        };
        assert_eq!(error(&[b'a'; 101], small).message, "the file is larger than 100 bytes");
        assert_eq!(error(b"x\n12345678901\n", small).line, 2);
        assert_eq!(error(b"x\n\"12345678901\"\n", small).line, 2);
        assert_eq!(error(b"a,b,c,d\n", small).message, "more than 3 fields");
        // A quote left open on a huge file stops at the record limit, not at the end of memory.
        let mut open = b"\"".to_vec();
        open.extend(std::iter::repeat_n(b'x', 90));
        assert!(error(&open, small).message.starts_with("the record is longer"));
    }

    #[test]
    fn nul_and_controls_pass_through_for_the_validator() {
        // The reader keeps them; the import's field rules refuse them with the line.
        assert_eq!(rows("a\u{0}b\n"), [(1, vec!["a\u{0}b"])]);
    }
}
