//! Query strings and request options as the apiserver reads them.

use peapod_api::ApiError;

/// Decoded query parameters; keys may repeat (`command=` for exec).
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut v = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            v.push((percent_decode(k), percent_decode(val)));
        }
        Query(v)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// A boolean parameter, read as the API server's conversion reads it
    /// (Go's `strconv.ParseBool`: `1 t T true TRUE True`; clients such as
    /// the Python one send `True`); a bare key counts as true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "t" | "T" | "true" | "TRUE" | "True" | ""))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
            }
        }
    }

    pub fn dry_run(&self) -> bool {
        self.all("dryRun").contains(&"All")
    }
}

/// `%XX` and `+` decoding of one query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(())
                {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a DELETE (DeleteOptions), with the query's overrides.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    pub propagation_policy: Option<String>,
}

impl DeleteOptions {
    pub fn from_request(q: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
        let mut o = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
            o.grace_period_seconds = v.get("gracePeriodSeconds").and_then(|x| x.as_i64());
            o.uid = v.pointer("/preconditions/uid").and_then(|x| x.as_str()).map(str::to_owned);
            o.resource_version =
                v.pointer("/preconditions/resourceVersion").and_then(|x| x.as_str()).map(str::to_owned);
            o.dry_run = v.get("dryRun").and_then(|x| x.as_array()).is_some_and(|a| a.iter().any(|s| s == "All"));
            o.propagation_policy = v.get("propagationPolicy").and_then(|x| x.as_str()).map(str::to_owned);
        }
        if let Some(g) = q.int("gracePeriodSeconds")? {
            o.grace_period_seconds = Some(g);
        }
        if q.dry_run() {
            o.dry_run = true;
        }
        if let Some(p) = q.get("propagationPolicy") {
            o.propagation_policy = Some(p.to_owned());
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let q = Query::parse(Some("command=sh&command=-c&command=echo+out%3B+exit+3&container=main&stdout=true"));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo out; exit 3"]);
        assert_eq!(q.get("container"), Some("main"));
        assert!(q.flag("stdout"));
        assert!(!q.flag("stdin"));
        for (v, want) in
            [("True", true), ("T", true), ("1", true), ("", true), ("False", false), ("0", false), ("yes", false)]
        {
            assert_eq!(Query::parse(Some(&format!("stdin={v}"))).flag("stdin"), want, "stdin={v}");
        }
        assert_eq!(percent_decode("a%3Db%2Cc"), "a=b,c");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn delete_options_body_and_query() {
        let q = Query::parse(Some("gracePeriodSeconds=3"));
        let o = DeleteOptions::from_request(
            &q,
            br#"{"propagationPolicy":"Background","dryRun":["All"],"preconditions":{"uid":"u"}}"#,
        )
        .unwrap();
        assert_eq!(o.grace_period_seconds, Some(3));
        assert!(o.dry_run);
        assert_eq!(o.uid.as_deref(), Some("u"));
        assert!(DeleteOptions::from_request(&Query::default(), b"{not json").is_err());
        assert_eq!(DeleteOptions::from_request(&Query::default(), b"").unwrap(), DeleteOptions::default());
    }
}
