//! Event rows (`printEvent`): LAST SEEN TYPE REASON OBJECT MESSAGE, plus
//! wide SUBOBJECT SOURCE FIRST SEEN COUNT NAME. Times fall back from
//! `firstTimestamp` to `eventTime`, and a `series` overrides the last time
//! and count.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Column, NAME_DESCRIPTION, Row, since, text, timestamp};

pub(super) fn columns() -> Vec<Column> {
    vec![
        Column::new("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
        Column::new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        Column::new("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        Column::new("Object", "string", "The object that this event is about."),
        Column::new("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].").wide(),
        Column::new("Source", "string", "The component reporting this event. Should be a short machine understandable string.").wide(),
        Column::new("Message", "string", "A human-readable description of the status of this operation."),
        Column::new("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)").wide(),
        Column::new("Count", "string", "The number of times this event has occurred.").wide(),
        Column {
            name: "Name",
            type_: "string",
            format: "name",
            description: NAME_DESCRIPTION,
            priority: 1,
        },
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

pub(super) fn row(ev: &Value, now: Timestamp) -> Row {
    let first = timestamp(ev, "/firstTimestamp").or_else(|| timestamp(ev, "/eventTime"));
    let first_seen = since(first, now);
    let mut last_seen = match timestamp(ev, "/lastTimestamp") {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = ev["count"].as_i64().unwrap_or(0);
    if let Some(series) = ev.get("series").filter(|s| s.is_object()) {
        last_seen = since(timestamp(series, "/lastObservedTime"), now);
        count = series["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the events.k8s.io API carry no count.
        count = 1;
    }
    let kind = text(ev, "/involvedObject/kind").to_lowercase();
    let name = text(ev, "/involvedObject/name");
    let target = if name.is_empty() { kind } else { format!("{kind}/{name}") };
    let component = first_non_empty(text(ev, "/source/component"), text(ev, "/reportingComponent"));
    let host = first_non_empty(text(ev, "/source/host"), text(ev, "/reportingInstance"));
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    Row::new(vec![
        json!(last_seen),
        json!(text(ev, "/type")),
        json!(text(ev, "/reason")),
        json!(target),
        json!(text(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(ev, "/message").trim()),
        json!(first_seen),
        json!(count),
        json!(text(ev, "/metadata/name")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rows() {
        let now: Timestamp = "2025-01-01T00:10:00Z".parse().unwrap();
        let ev = json!({
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{main}"},
            "reason": "Started", "message": " Started container main\n", "type": "Normal",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:09:30Z", "count": 2
        });
        assert_eq!(
            Value::Array(row(&ev, now).cells),
            json!([
                "30s",
                "Normal",
                "Started",
                "pod/web",
                "spec.containers{main}",
                "kubelet, node1",
                "Started container main",
                "10m",
                2,
                "web.17a"
            ])
        );
        let new_style = json!({
            "metadata": {"name": "n"}, "involvedObject": {"kind": "Node"},
            "reason": "Ready", "type": "Normal", "reportingComponent": "peapod",
            "eventTime": "2025-01-01T00:05:00.123456Z"
        });
        assert_eq!(
            Value::Array(row(&new_style, now).cells),
            json!(["4m59s", "Normal", "Ready", "node", "", "peapod", "", "4m59s", 1, "n"])
        );
        let series = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Pod", "name": "p"},
                            "firstTimestamp": "2025-01-01T00:00:00Z",
                            "series": {"count": 7, "lastObservedTime": "2025-01-01T00:09:55Z"}});
        let r = row(&series, now).cells;
        assert_eq!((r[0].clone(), r[8].clone()), (json!("5s"), json!(7)));
        let names: Vec<&str> = columns().iter().filter(|c| c.priority == 0).map(|c| c.name).collect();
        assert_eq!(names, ["Last Seen", "Type", "Reason", "Object", "Message"]);
    }
}
