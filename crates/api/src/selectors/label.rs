//! Label selectors: the string syntax of apimachinery's `labels.Parse`
//! (`a=b,c!=d,e in (x,y),f notin (z),g,!h`, plus `==`, `>`, `<`) with its
//! lexer, parser and error messages, and the structured `LabelSelector`
//! (`matchLabels` / `matchExpressions`) of `metav1.LabelSelectorAsSelector`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sLabelSelector;

use super::SelectorError;
use crate::field::{FieldError, Path};
use crate::validation::names::{is_qualified_name, is_valid_label_value};

/// A requirement operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `in (a,b)`.
    In,
    /// `notin (a,b)`.
    NotIn,
    /// `=`.
    Equals,
    /// `==`.
    DoubleEquals,
    /// `!=`.
    NotEquals,
    /// bare key.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `>` (integer values).
    GreaterThan,
    /// `<` (integer values).
    LessThan,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values (sorted, deduplicated; empty for Exists/DoesNotExist).
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, checking it like Go's `NewRequirement`.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let mut errs = Vec::new();
        let key_msgs = is_qualified_name(key);
        if !key_msgs.is_empty() {
            errs.push(FieldError::invalid(&Path::new("key"), key, key_msgs.join("; ")));
        }
        let values_path = Path::new("values");
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(FieldError::invalid(
                &values_path,
                serde_json::json!(values),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                errs.push(FieldError::invalid(
                    &values_path,
                    serde_json::json!(values),
                    "exact-match compatibility requires one single value",
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(FieldError::invalid(
                &values_path,
                serde_json::json!(values),
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        serde_json::json!(values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            &values_path.index(i),
                            v.as_str(),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(&values_path.index(i).key(key), v.as_str(), msgs.join("; ")));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError::Invalid(aggregate(&errs)));
        }
        Ok(Requirement { key: key.to_string(), operator, values })
    }

    /// True when `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(Ok(have)), Some(Ok(want))) =
                    (value.map(|v| v.parse::<i64>()), self.values.first().map(|v| v.parse::<i64>()))
                else {
                    return false;
                };
                if self.operator == Operator::GreaterThan { have > want } else { have < want }
            }
        }
    }
}

/// Go's aggregate error text: one message alone, several in brackets.
fn aggregate(errs: &[FieldError]) -> String {
    let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector: the AND of its requirements. The empty
/// selector matches everything; [`LabelSelector::nothing`] matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (a nil structured selector).
    pub fn nothing() -> Self {
        LabelSelector { requirements: Vec::new(), nothing: true }
    }

    /// Parses the string form (`?labelSelector=`). Requirements are sorted
    /// by key, as Go does.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let tokens = lex(input)?;
        let mut p = Parser { tokens, pos: 0 };
        let mut requirements = p.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// Converts a structured selector (Go `LabelSelectorAsSelector`): `None`
    /// matches nothing, an empty one everything.
    pub fn from_k8s(selector: Option<&K8sLabelSelector>) -> Result<Self, SelectorError> {
        let Some(sel) = selector else {
            return Ok(Self::nothing());
        };
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
        }
        for expr in sel.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::Invalid(format!(
                        "{} is not a valid label selector operator",
                        crate::field::go_quote(other)
                    )));
                }
            };
            let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
            requirements.push(Requirement::new(&expr.key, op, values.into_iter().collect())?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// True when every requirement matches `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches the `metadata.labels` of a JSON object (absent = no labels).
    pub fn matches_object(&self, obj: &serde_json::Value) -> bool {
        let labels: BTreeMap<String, String> = obj
            .pointer("/metadata/labels")
            .and_then(|l| l.as_object())
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
            .unwrap_or_default();
        self.matches(&labels)
    }

    /// True when the selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

impl Token {
    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::DoesNotExist => "!",
            Token::DoubleEquals => "==",
            Token::Equals => "=",
            Token::GreaterThan => ">",
            Token::Identifier(s) => s,
            Token::In => "in",
            Token::LessThan => "<",
            Token::NotEquals => "!=",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
        }
    }

    fn from_literal(s: &str) -> Option<Token> {
        Some(match s {
            ")" => Token::ClosedPar,
            "," => Token::Comma,
            "!" => Token::DoesNotExist,
            "==" => Token::DoubleEquals,
            "=" => Token::Equals,
            ">" => Token::GreaterThan,
            "in" => Token::In,
            "<" => Token::LessThan,
            "!=" => Token::NotEquals,
            "notin" => Token::NotIn,
            "(" => Token::OpenPar,
            _ => return None,
        })
    }
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's lexer: identifiers run until whitespace or a special symbol;
/// symbols are scanned greedily while they form a known operator.
fn lex(input: &str) -> Result<Vec<Token>, SelectorError> {
    let b = input.as_bytes();
    let mut pos = 0;
    let mut tokens = Vec::new();
    loop {
        while pos < b.len() && is_space(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            tokens.push(Token::End);
            return Ok(tokens);
        }
        if is_special(b[pos]) {
            let start = pos;
            let mut last: Option<(Token, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                pos += 1;
                match Token::from_literal(&input[start..pos]) {
                    Some(t) => last = Some((t, pos)),
                    None if last.is_some() => {
                        pos -= 1;
                        break;
                    }
                    None => {}
                }
            }
            // Every single symbol is a token, so a run of symbols always
            // yields one (Go's ErrorToken cannot occur); the fallback only
            // keeps this total.
            let (t, end) = last.unwrap_or((Token::Identifier(input[start..pos].to_string()), pos));
            pos = end;
            tokens.push(t);
        } else {
            let start = pos;
            while pos < b.len() && !is_special(b[pos]) && !is_space(b[pos]) {
                pos += 1;
            }
            let s = &input[start..pos];
            tokens.push(Token::from_literal(s).unwrap_or_else(|| Token::Identifier(s.to_string())));
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// In value position `in`/`notin` are plain identifiers.
fn as_value(t: Token) -> Token {
    match t {
        Token::In | Token::NotIn => Token::Identifier(t.literal().to_string()),
        t => t,
    }
}

impl Parser {
    fn lookahead_value(&self) -> Token {
        as_value(self.tokens[self.pos].clone())
    }

    fn consume_value(&mut self) -> Token {
        let t = as_value(self.tokens[self.pos].clone());
        self.pos += 1;
        t
    }

    fn consume_raw(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        self.pos += 1;
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            match self.lookahead_value() {
                Token::Identifier(_) | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| SelectorError::Invalid(format!("unable to parse requirement: {e}")))?;
                    reqs.push(r);
                    match self.consume_value() {
                        Token::End => return Ok(reqs),
                        Token::Comma => {
                            let t = self.lookahead_value();
                            if !matches!(t, Token::Identifier(_) | Token::DoesNotExist) {
                                return Err(SelectorError::Invalid(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                )));
                            }
                        }
                        t => {
                            return Err(SelectorError::Invalid(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::End => return Ok(reqs),
                t => {
                    return Err(SelectorError::Invalid(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let mut operator = None;
        let mut t = self.consume_value();
        if t == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            t = self.consume_value();
        }
        let Token::Identifier(key) = t else {
            return Err(format!("found '{}', expected: identifier", t.literal()));
        };
        let key_msgs = is_qualified_name(&key);
        if !key_msgs.is_empty() {
            return Err(format!(": Invalid value: {}: {}", crate::field::go_quote(&key), key_msgs.join("; ")));
        }
        if matches!(self.lookahead_value(), Token::End | Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        if let Some(op) = operator {
            return Requirement::new(&key, op, vec![]).map_err(|e| e.to_string());
        }
        let op = match self.consume_raw() {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            t => {
                return Err(format!("found '{}', expected: in, notin, =, ==, !=, gt, lt", t.literal()));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values.into_iter().collect()).map_err(|e| e.to_string())
    }

    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let t = self.consume_value();
        if t != Token::OpenPar {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        match self.lookahead_value() {
            Token::Identifier(_) | Token::Comma => {
                let lit = self.lookahead_value().literal().to_string();
                let s = self.parse_identifiers_list()?;
                if self.consume_value() != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.consume_value();
                Ok(BTreeSet::from([String::new()]))
            }
            t => Err(format!("found '{}', expected: ',', ')' or identifier", t.literal())),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut s = BTreeSet::new();
        loop {
            match self.consume_value() {
                Token::Identifier(v) => {
                    s.insert(v);
                    match self.lookahead_value() {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        s.insert(String::new());
                    }
                    match self.lookahead_value() {
                        Token::ClosedPar => {
                            s.insert(String::new());
                            return Ok(s);
                        }
                        Token::Comma => {
                            s.insert(String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(format!("found '{}', expected: ',', or identifier", t.literal()));
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        if matches!(self.lookahead_value(), Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.consume_value() {
            Token::Identifier(v) => Ok(BTreeSet::from([v])),
            t => Err(format!("found '{}', expected: identifier", t.literal())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parse_and_print() {
        let table = [
            ("", ""),
            ("x=a", "x=a"),
            ("x==a", "x==a"),
            ("x!=a", "x!=a"),
            ("y,x=a", "x=a,y"),
            ("!x", "!x"),
            ("x in (b,a)", "x in (a,b)"),
            ("x notin (a)", "x notin (a)"),
            ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
            ("x>1", "x>1"),
            ("x<1", "x<1"),
            ("x=", "x="),
            ("  x = a  ,  y  ", "x=a,y"),
            ("value in (in)", "value in (in)"),
            ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
        ];
        for (input, printed) in table {
            let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(s.to_string(), printed, "{input}");
        }
    }

    #[test]
    fn parse_errors() {
        let table = [
            ("x=a)y", "found ')', expected: ',' or 'end of string'"),
            ("x (a)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
            ("x,", "found '', expected: identifier after ','"),
            ("=a", "found '=', expected: !, identifier, or 'end of string'"),
            ("x in a", "unable to parse requirement: found 'a' expected: '('"),
            ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("x=a=b", "found '=', expected: ',' or 'end of string'"),
            (
                "x>a",
                "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer",
            ),
            ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        ];
        for (input, want) in table {
            assert_eq!(LabelSelector::parse(input).unwrap_err().to_string(), want, "{input}");
        }
        let bad_key = LabelSelector::parse("-x=a").unwrap_err().to_string();
        assert!(
            bad_key.starts_with("unable to parse requirement: : Invalid value: \"-x\": name part must consist"),
            "{bad_key}"
        );
        let bad_value = LabelSelector::parse("x=-a").unwrap_err().to_string();
        assert!(
            bad_value
                .starts_with("unable to parse requirement: values[0][x]: Invalid value: \"-a\": a valid label must be"),
            "{bad_value}"
        );
    }

    #[test]
    fn matching() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let table = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("n>4", true),
            ("n<4", false),
            ("app>1", false),
        ];
        for (sel, want) in table {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
        assert!(!LabelSelector::nothing().matches(&l));
        let obj = serde_json::json!({"metadata": {"labels": {"app": "web"}}});
        assert!(LabelSelector::parse("app=web").unwrap().matches_object(&obj));
        assert!(!LabelSelector::parse("app=web").unwrap().matches_object(&serde_json::json!({})));
    }

    #[test]
    fn structured_selectors() {
        let sel: K8sLabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]},
                                 {"key": "old", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        let s = LabelSelector::from_k8s(Some(&sel)).unwrap();
        assert_eq!(s.to_string(), "app=web,!old,tier in (edge,front)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("old", "1")])));
        assert!(LabelSelector::from_k8s(Some(&K8sLabelSelector::default())).unwrap().is_empty());
        assert!(!LabelSelector::from_k8s(None).unwrap().matches(&labels(&[])));
        let bad: K8sLabelSelector =
            serde_json::from_value(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]})).unwrap();
        assert_eq!(
            LabelSelector::from_k8s(Some(&bad)).unwrap_err().to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
    }
}
