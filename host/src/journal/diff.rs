//! Words for where a re-run left its journal: the first field that differs.

use super::{kind, Envelope};

/// Words for how a produced event differs from the recorded one.
pub(super) fn difference(recorded: &Envelope, produced: &Envelope) -> String {
    let who = recorded
        .strategy_id
        .as_deref()
        .map(|s| format!(" of strategy {s}"))
        .unwrap_or_default();
    let (a, b) = (kind(recorded), kind(produced));
    if a != b {
        return format!("recorded a {a} event{who}, the run produced a {b} event");
    }
    let to_value = |e: &Envelope| {
        serde_json::from_slice::<serde_json::Value>(&e.content()).unwrap_or_default()
    };
    match first_difference(&to_value(recorded), &to_value(produced), String::new()) {
        Some(d) => format!("{a} event{who}: {d}"),
        None => format!("{a} event{who}: event ids differ"),
    }
}

/// The first JSON path where `a` and `b` differ, with both values.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, value) in x {
                let sub = format!("{path}/{key}");
                match y.get(key) {
                    Some(other) => {
                        if let Some(d) = first_difference(value, other, sub) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{sub} recorded {value}, missing in the run")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}/{k} not recorded, the run has {}", y[k]))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(u, v, format!("{path}/{i}")) {
                    return Some(d);
                }
            }
            (x.len() != y.len())
                .then(|| format!("{path} recorded {} item(s), the run {}", x.len(), y.len()))
        }
        _ => (a != b).then(|| format!("{path} recorded {a}, the run {b}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_field_and_both_values() {
        let a = serde_json::json!({"event": {"intents": [{"place": {"qty": 1000}}]}});
        let b = serde_json::json!({"event": {"intents": [{"place": {"qty": 1001}}]}});
        assert_eq!(
            first_difference(&a, &b, String::new()).as_deref(),
            Some("/event/intents/0/place/qty recorded 1000, the run 1001")
        );
        assert_eq!(first_difference(&a, &a, String::new()), None);
    }
}
