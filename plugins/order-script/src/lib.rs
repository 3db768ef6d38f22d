//! Test plugin: trades exactly what a script in its parameters says, and
//! checks what it sees. The integration tests drive every order type, time
//! in force, flag, replace and cancel through the real WIT boundary with it.
//!
//! Parameters: `instrument` (symbol) and `script`, one command per line,
//! `<step>: <command>`, where step counts this strategy's `on-step` calls
//! from 1. Prices are decimals, quantities decimals in lots:
//!
//! ```text
//! 1: buy market 1000
//! 1: sell limit 1.07300 1000 ioc post-only tag=exit
//! 2: buy stop 1.07400 1000 gtd=1492596000000000000 reduce-only
//! 2: buy stop-limit 1.07400 1.07450 1000 day
//! 3: cancel 1
//! 3: replace 2 qty=2000 limit=1.07250 stop=1.07400
//! 4: cancel-all
//! 4: expect position 1000
//! 4: expect open 2
//! 4: expect report 1 fill
//! ```
//!
//! A price or quantity written `#<integer>` crosses the boundary as that
//! scaled `s64` verbatim, and `on=<u32>` names any instrument id, so that a
//! test can send any value a guest could (`buy limit #9223372036854775807
//! #-1 on=4294967295`); `cancel-all <u32>` cancels on one instrument id.
//!
//! `expect` lines check the view at that step (the signed position, the
//! number of open orders, or that a report of that kind on that order id
//! arrived since the previous step) and trap with a message naming the
//! line if it differs, so a test sees the failure as a quarantine cause.

use cracktrader_guest::{
    Config, Decimal, Info, Instrument, Intent, ReportKind, Side, Strategy, TimeInForce, View,
};

/// One parsed script line.
#[derive(Debug, Clone)]
struct Line {
    step: u32,
    text: String,
    command: Command,
}

#[derive(Debug, Clone)]
enum Command {
    Intent(Intent),
    ExpectPosition(i64),
    ExpectOpen(usize),
    ExpectReport(u64, ReportKind),
}

/// The scripted strategy.
pub struct OrderScript {
    lines: Vec<Line>,
    step: u32,
}

/// `#<integer>`: a raw scaled value, whatever it is.
fn raw(text: &str) -> Option<Result<i64, String>> {
    let digits = text.strip_prefix('#')?;
    Some(digits.parse().map_err(|e| format!("'{text}': {e}")))
}

fn price(inst: &Instrument, text: &str) -> Result<i64, String> {
    if let Some(value) = raw(text) {
        return value;
    }
    let value: Decimal = text.parse().map_err(|e| format!("price '{text}': {e}"))?;
    value
        .rescale(inst.price_scale)
        .ok_or_else(|| format!("price '{text}' does not fit {} decimals", inst.price_scale))
}

/// A quantity at the instrument's scale; lot multiples are the host's to
/// check (the tests send off-lot quantities on purpose).
fn qty(inst: &Instrument, text: &str) -> Result<i64, String> {
    if let Some(value) = raw(text) {
        return value;
    }
    let value: Decimal = text.parse().map_err(|e| format!("qty '{text}': {e}"))?;
    value
        .rescale(inst.qty_scale)
        .ok_or_else(|| format!("qty '{text}' does not fit {} decimals", inst.qty_scale))
}

fn report_kind(text: &str) -> Result<ReportKind, String> {
    Ok(match text {
        "submitted" => ReportKind::Submitted,
        "accepted" => ReportKind::Accepted,
        "rejected" => ReportKind::Rejected,
        "triggered" => ReportKind::Triggered,
        "fill" => ReportKind::Fill,
        "pending-cancel" => ReportKind::PendingCancel,
        "cancelled" => ReportKind::Cancelled,
        "expired" => ReportKind::Expired,
        "replaced" => ReportKind::Replaced,
        "cancel-rejected" => ReportKind::CancelRejected,
        "replace-rejected" => ReportKind::ReplaceRejected,
        other => return Err(format!("unknown report kind '{other}'")),
    })
}

fn parse_command(inst: &Instrument, words: &[&str]) -> Result<Command, String> {
    let number = |w: &str| w.parse::<u64>().map_err(|e| format!("'{w}': {e}"));
    let place = |side: Side, rest: &[&str]| -> Result<Command, String> {
        let (kind, rest) = rest.split_first().ok_or("missing order type")?;
        let (intent, rest) = match (*kind, rest) {
            ("market", [q, rest @ ..]) => (Intent::market(inst.id, side, qty(inst, q)?, ""), rest),
            ("limit", [p, q, rest @ ..]) => (
                Intent::limit(inst.id, side, qty(inst, q)?, price(inst, p)?, ""),
                rest,
            ),
            ("stop", [p, q, rest @ ..]) => (
                Intent::stop(inst.id, side, qty(inst, q)?, price(inst, p)?, ""),
                rest,
            ),
            ("stop-limit", [s, l, q, rest @ ..]) => {
                let (s, l) = (price(inst, s)?, price(inst, l)?);
                (
                    Intent::stop_limit(inst.id, side, qty(inst, q)?, s, l, ""),
                    rest,
                )
            }
            (other, _) => return Err(format!("bad order '{other} {}'", rest.join(" "))),
        };
        let mut intent = intent;
        for word in rest {
            intent = match *word {
                "gtc" => intent.with_tif(TimeInForce::Gtc),
                "ioc" => intent.with_tif(TimeInForce::Ioc),
                "fok" => intent.with_tif(TimeInForce::Fok),
                "day" => intent.with_tif(TimeInForce::Day),
                "reduce-only" => intent.reduce_only(),
                "post-only" => intent.post_only(),
                w if w.starts_with("gtd=") => {
                    let until = w[4..].parse().map_err(|e| format!("'{w}': {e}"))?;
                    intent.with_tif(TimeInForce::Gtd(until))
                }
                w if w.starts_with("tag=") => match intent {
                    Intent::Place(mut order) => {
                        order.client_tag = w[4..].to_string();
                        Intent::Place(order)
                    }
                    other => other,
                },
                w if w.starts_with("on=") => match intent {
                    Intent::Place(mut order) => {
                        order.instrument = w[3..].parse().map_err(|e| format!("'{w}': {e}"))?;
                        Intent::Place(order)
                    }
                    other => other,
                },
                w => return Err(format!("unknown order option '{w}'")),
            };
        }
        Ok(Command::Intent(intent))
    };
    match words {
        ["buy", rest @ ..] => place(Side::Buy, rest),
        ["sell", rest @ ..] => place(Side::Sell, rest),
        ["cancel", id] => Ok(Command::Intent(Intent::Cancel(number(id)?))),
        ["cancel-all"] => Ok(Command::Intent(Intent::CancelAll(None))),
        ["cancel-all", id] => {
            let id = id.parse().map_err(|e| format!("'{id}': {e}"))?;
            Ok(Command::Intent(Intent::CancelAll(Some(id))))
        }
        ["replace", id, changes @ ..] => {
            let (mut q, mut l, mut s) = (None, None, None);
            for change in changes {
                match change.split_once('=') {
                    Some(("qty", v)) => q = Some(qty(inst, v)?),
                    Some(("limit", v)) => l = Some(price(inst, v)?),
                    Some(("stop", v)) => s = Some(price(inst, v)?),
                    _ => return Err(format!("bad replace field '{change}'")),
                }
            }
            Ok(Command::Intent(Intent::replace(number(id)?, q, l, s)))
        }
        ["expect", "position", q] => Ok(Command::ExpectPosition(qty(inst, q)?)),
        ["expect", "open", n] => Ok(Command::ExpectOpen(number(n)? as usize)),
        ["expect", "report", id, kind] => {
            Ok(Command::ExpectReport(number(id)?, report_kind(kind)?))
        }
        _ => Err("unknown command".to_string()),
    }
}

impl Strategy for OrderScript {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        let symbol: String = config.param("instrument")?;
        let inst = config.require_instrument(&symbol)?.clone();
        let script: String = config.param("script")?;
        let mut lines = Vec::new();
        for (n, text) in script.lines().map(str::trim).enumerate() {
            if text.is_empty() {
                continue;
            }
            let parsed = text.split_once(':').and_then(|(step, command)| {
                let words: Vec<&str> = command.split_whitespace().collect();
                Some((step.trim().parse().ok()?, parse_command(&inst, &words)))
            });
            match parsed {
                Some((step, Ok(command))) => lines.push(Line {
                    step,
                    text: text.to_string(),
                    command,
                }),
                Some((_, Err(e))) => return Err(format!("script line {}: '{text}': {e}", n + 1)),
                None => {
                    return Err(format!(
                        "script line {}: '{text}': expected '<step>: <command>'",
                        n + 1
                    ))
                }
            }
        }
        let info = Info {
            name: "order-script".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            subscriptions: vec![symbol],
            warmup: 0,
        };
        Ok((OrderScript { lines, step: 0 }, info))
    }

    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>) {
        self.step += 1;
        for line in self.lines.iter().filter(|l| l.step == self.step) {
            let failed = match &line.command {
                Command::Intent(intent) => {
                    intents.push(intent.clone());
                    None
                }
                Command::ExpectPosition(q) => {
                    let id = view.positions.first().map_or(0, |p| p.instrument);
                    (view.position(id) != *q).then(|| format!("position is {}", view.position(id)))
                }
                Command::ExpectOpen(n) => (view.open_orders.len() != *n).then(|| {
                    format!(
                        "{} open orders: {:?}",
                        view.open_orders.len(),
                        view.open_orders
                    )
                }),
                Command::ExpectReport(id, kind) => {
                    let seen = view
                        .reports
                        .iter()
                        .any(|r| r.order_id == *id && r.kind == *kind);
                    let kinds: Vec<_> = view.reports.iter().map(|r| (r.order_id, r.kind)).collect();
                    (!seen).then(|| format!("reports since the previous step: {kinds:?}"))
                }
            };
            if let Some(problem) = failed {
                panic!("step {}: '{}' failed: {problem}", self.step, line.text);
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(OrderScript);
