//! `$(VAR)` expansion in container `command`, `args` and env values, as
//! Kubernetes does it (`third_party/forked/golang/expansion`):
//!
//! - `$(NAME)` is replaced by the mapping's value for `NAME`;
//! - an unknown `$(NAME)` is left as written;
//! - `$$` is an escaped `$`, so `$$(NAME)` yields the literal `$(NAME)`;
//! - a `$` not followed by `(` or `$` is kept, as is an unterminated `$(`.
//!
//! There is no recursion: a value that itself contains `$(X)` is inserted
//! as is.

/// Expands `$(VAR)` references in `input`; `mapping` returns `None` for an
/// unknown name (which is then left unexpanded).
pub fn expand(input: &str, mapping: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                // Escaped operator.
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest[1..].find(')') {
                    Some(close) => {
                        let name = &rest[1..1 + close];
                        match mapping(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 2
                    }
                    // Incomplete reference: keep "$(" and go on after it.
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                // A lone operator: keep it and the next character.
                _ => {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// A mapping over one or more variable maps, searched in order (Go
/// `MappingFuncFor`), for use with [`expand`].
pub fn mapping_for<'a>(
    contexts: &'a [&'a std::collections::BTreeMap<String, String>],
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| contexts.iter().find_map(|m| m.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The cases of Kubernetes' `expand_test.go`.
    #[test]
    fn kubernetes_expansion_cases() {
        let vars: BTreeMap<String, String> =
            [("VAR_A", "A"), ("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)"), ("VAR_EMPTY", "")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let ctx = [&vars];
        let mapping = mapping_for(&ctx);
        let cases = [
            ("whole string", "$(VAR_A)", "A"),
            ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
            ("beginning", "$(VAR_A)-1", "A-1"),
            ("middle", "___$(VAR_B)___", "___B___"),
            ("end", "___$(VAR_C)", "___C"),
            ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
            ("escape & expansion", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
            ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
            ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
            ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
            ("backslash escape ignored twice", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
            ("lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
            ("nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
            ("nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
            ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
            ("value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
            ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
            ("unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
            ("expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
            ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
            ("bare operators are ignored", "$VAR_A", "$VAR_A"),
            ("undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"),
            ("multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
            ("multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
            ("multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"),
            ("missing open expression", "$VAR_A)", "$VAR_A)"),
            ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
            ("trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"),
            ("trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("),
            ("operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"),
            ("shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
            ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
            ("lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("),
            ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
            ("escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"),
            ("newline not expanded", "\n", "\n"),
            ("empty name", "$()", "$()"),
            ("non-ascii after operator", "$é$(VAR_A)", "$éA"),
        ];
        for (name, input, want) in cases {
            assert_eq!(expand(input, &mapping), want, "{name}");
        }
    }
}
