//! The one rule for free text that callers send and the store keeps (names, reasons, keys).

/// Refuses control characters (`char::is_control`: NUL, tab, newline, DEL, the C1 range).
/// SQLite stores them but PostgreSQL refuses NUL in text (a database error), so without this
/// check the two backends would answer the same request differently; none of them belongs in a
/// name, a reason or an idempotency key. The caller wraps the message in its own error type.
pub fn refuse_control_chars(field: &str, text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        Err(format!(
            "{field} may not contain control characters (such as NUL, tab or newline)"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::refuse_control_chars;

    #[test]
    fn control_characters_are_refused() {
        for bad in ["a\0b", "a\tb", "a\nb", "\r", "a\u{7f}", "a\u{85}b", "\u{9f}"] {
            assert!(refuse_control_chars("name", bad).is_err(), "{bad:?}");
        }
        for ok in ["", "Ann B", "été 😀", "a\u{a0}b", "a\u{200b}b"] {
            assert!(refuse_control_chars("name", ok).is_ok(), "{ok:?}");
        }
        assert_eq!(
            refuse_control_chars("reason", "x\0").unwrap_err(),
            "reason may not contain control characters (such as NUL, tab or newline)"
        );
    }
}
