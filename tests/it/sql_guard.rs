//! Every query stays parameterised: a guard over the server's source. Values reach SQL only as
//! bind parameters (`$1`, `.bind(...)`); where SQL text is assembled with `format!` (column lists,
//! placeholder runs, `for update`), each piece put into it must be SQL the code itself wrote,
//! never a value. This test reads every `format!` under `src/server/` whose text is SQL and fails on
//! an interpolated piece it cannot see is one of those: a new one must be shown safe here, by name.

use std::path::{Path, PathBuf};

/// SQL fragments built by the code from literals and placeholder numbers only, by name, with where.
const BUILT_FROM_PLACEHOLDERS: &[(&str, &str)] = &[
    // admin_order_queries.rs: the orders filter, literal clauses ("o.user_id = ?") whose `?`
    // become `${n}` placeholders, joined, then " where " + them.
    ("clauses.join(\" and \")", "admin_order_queries.rs"),
    ("wh", "admin_order_queries.rs"),
    // host_webhook_queries.rs: the deliveries filter, literal clauses with `${n}` placeholders.
    ("clauses.join(\" and \")", "host_webhook_queries.rs"),
    // ledger_batch.rs: " when $1 then $2 ..." and "$1, $3, ..." from placeholder numbers.
    ("cases", "ledger_batch.rs"),
    ("ids", "ledger_batch.rs"),
    // host_webhook_queries.rs: `subscribed_sql(on, ty)` puts its two arguments into SQL; every
    // call passes placeholders ("$3"), which this guard checks at each call.
    ("on", "host_webhook_queries.rs"),
    ("ty", "host_webhook_queries.rs"),
    // admin_event_queries.rs: the audit filter's column, from the literal list ["actor", "action"].
    ("column", "admin_event_queries.rs"),
    // ledger_batch.rs: "($1, ..., $10), ($11, ...)" for a multi-row insert.
    ("values", "ledger_batch.rs"),
    // admin_order_queries.rs: the order columns prefixed with the table alias `o.`.
    ("order_columns_of_o()", "admin_order_queries.rs"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text between `format!(` at `start` and its closing parenthesis (strings skipped).
fn call_body(s: &[u8], start: usize) -> &[u8] {
    let (mut depth, mut i) = (1, start);
    while depth > 0 && i < s.len() {
        match s[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    &s[start..i.saturating_sub(1)]
}

/// The format string (a plain or raw literal) and the rest of the arguments after it.
fn literal_and_args(body: &str) -> Option<(String, String)> {
    let t = body.trim_start();
    let (open, close) = if t.starts_with("r#\"") {
        ("r#\"", "\"#")
    } else if t.starts_with("r\"") {
        ("r\"", "\"")
    } else if t.starts_with('"') {
        ("\"", "\"")
    } else {
        return None;
    };
    let inner = &t[open.len()..];
    let end = if close == "\"" && open == "\"" {
        let b = inner.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        i
    } else {
        inner.find(close)?
    };
    let lit = inner[..end].to_string();
    let rest = inner[end + close.len()..]
        .trim_start()
        .trim_start_matches(',')
        .to_string();
    Some((lit, rest))
}

/// Top-level comma-separated arguments.
fn split_args(rest: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut in_str) = (Vec::new(), String::new(), 0, false);
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            cur.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn is_sql(lit: &str) -> bool {
    let l = lit.to_ascii_lowercase();
    // Whole statements, and the fragments appended to them (" and x = ${n}", " = '{v}'").
    [
        "select ",
        "insert into ",
        "update ",
        "delete from ",
        " where ",
        " order by ",
        " limit ",
        "${",
        "= $",
        "= {",
        "= '{",
        " and {",
        " in ({",
        "|| {",
    ]
    .iter()
    .any(|k| l.contains(k))
}

/// Whether an interpolated piece is visibly SQL the code wrote (or a number).
fn is_safe_piece(piece: &str, file: &str) -> bool {
    let p = piece.trim();
    let last = p.rsplit("::").next().unwrap_or(p);
    // A constant: `sql::ORDER_COLUMNS`, `DELIVERY_SELECT`.
    let constant = !last.is_empty()
        && last
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && last.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    // A macro's lock clause, bound to a literal by every caller (" for update" or "").
    let lock = p == "$lock";
    // Placeholder runs from numbers, and fragments given only placeholders ("$3").
    let args = |f: &str| {
        last.strip_prefix(f)
            .and_then(|a| a.strip_prefix('('))
            .and_then(|a| a.strip_suffix(')'))
            .map(split_args)
    };
    let numeric =
        |a: &String| !a.contains('"') && a.chars().all(|c| c.is_ascii_alphanumeric() || " _.()+*-".contains(c));
    let placeholder = |a: &String| {
        a.strip_prefix("\"$")
            .and_then(|a| a.strip_suffix('"'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    let placeholder_fn = args("placeholders").is_some_and(|a| a.iter().all(numeric))
        || args("subscribed_sql").is_some_and(|a| a.iter().all(placeholder));
    // A number: arithmetic on counts (`args.len() + 1`, `2 * users + 1`).
    let number = !p.contains('"')
        && (p.contains(".len()") || p.contains('+') || p.contains('*'))
        && p.chars().all(|c| c.is_ascii_alphanumeric() || " _.()+*-".contains(c));
    let named = BUILT_FROM_PLACEHOLDERS
        .iter()
        .any(|(name, f)| *name == p && file.ends_with(f));
    constant || lock || placeholder_fn || number || named
}

#[test]
fn sql_text_interpolates_only_code_written_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/server"), &mut files);
    let mut checked = 0;
    let mut unsafe_pieces = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(root).unwrap().display().to_string();
        let bytes = text.as_bytes();
        for (at, _) in text.match_indices("format!(") {
            let body = String::from_utf8_lossy(call_body(bytes, at + "format!(".len())).to_string();
            let Some((lit, rest)) = literal_and_args(&body) else {
                continue;
            };
            if !is_sql(&lit) {
                continue;
            }
            checked += 1;
            let mut pieces: Vec<String> = split_args(&rest).into_iter().filter(|a| !a.is_empty()).collect();
            // Inline captures: `{name}` (not `{}` nor `{{`).
            let mut rest_lit = lit.as_str();
            while let Some(i) = rest_lit.find('{') {
                let after = &rest_lit[i + 1..];
                if let Some(escaped) = after.strip_prefix('{') {
                    rest_lit = escaped;
                    continue;
                }
                let end = after.find('}').unwrap_or(after.len());
                let inner = after[..end].split(':').next().unwrap_or("");
                // `${n}`: a placeholder's number, by its place in the text.
                let placeholder_number = rest_lit[..i].ends_with('$');
                if !inner.is_empty() && !inner.chars().all(|c| c.is_ascii_digit()) && !placeholder_number {
                    pieces.push(inner.to_string());
                }
                rest_lit = &after[end.min(after.len())..];
            }
            for p in pieces {
                if !is_safe_piece(&p, &name) {
                    let line = text[..at].lines().count();
                    unsafe_pieces.push(format!("{name}:{line}: `{p}` in {lit:?}"));
                }
            }
        }
    }
    assert!(
        checked >= 30,
        "found only {checked} SQL format! calls: is the scan still finding them?"
    );
    assert!(
        unsafe_pieces.is_empty(),
        "SQL text built with a piece not shown to be code-written SQL (bind the value instead, or \
         name the fragment in BUILT_FROM_PLACEHOLDERS with why it is safe):\n{}",
        unsafe_pieces.join("\n")
    );
}

#[test]
fn the_guard_catches_a_value_put_into_sql() {
    // The checks this guard rests on, on pieces it must refuse and accept.
    for bad in [
        "email",
        "user.email",
        "name.to_lowercase()",
        "format!(\"{x}\")",
        "q",
        "key",
    ] {
        assert!(!is_safe_piece(bad, "src/server/store/queries.rs"), "{bad}");
    }
    for good in [
        "sql::ORDER_COLUMNS",
        "super::sql::USER_COLUMNS",
        "DELIVERY_SELECT",
        "$lock",
        "sql::placeholders(1, users.len())",
        "$crate::server::store::host_webhook_queries::subscribed_sql(\"$3\", \"$2\")",
        "args.len() + 1",
        "2 * users + 1",
    ] {
        assert!(is_safe_piece(good, "src/server/store/queries.rs"), "{good}");
    }
    // A named fragment is allowed only in its own file.
    assert!(is_safe_piece("wh", "src/server/store/admin_order_queries.rs"));
    assert!(!is_safe_piece("wh", "src/server/store/queries.rs"));
    assert!(!is_safe_piece("subscribed_sql(name, \"$2\")", "x.rs"));
    assert!(
        is_sql(" and email = '{email}'") && is_sql(" and x = ${n}") && !is_sql("{field} must be one of: {}, or all.")
    );
    let (lit, rest) = literal_and_args(r#""select {} from users where email = '{email}'", sql::USER_COLUMNS"#).unwrap();
    assert!(is_sql(&lit));
    assert_eq!(split_args(&rest), ["sql::USER_COLUMNS"]);
}
