//! Checking a session file as a whole before anything is built: every
//! section's values, and how the sections refer to each other (instruments,
//! data, execution contexts, strategies, venues), each problem named once.

use super::*;

/// The `[[fx]]` rates of a session file, reporting invalid ones.
pub(super) fn configured_rates(config: &SessionConfig, problems: &mut Problems) -> Rates {
    let mut rates = BTreeMap::new();
    for (i, fx) in config.fx.iter().enumerate() {
        if fx.rate <= Decimal::ZERO {
            problems.push(format!("fx[{i}].rate: must be positive, got {}", fx.rate));
        }
        if fx.base == fx.quote {
            problems.push(format!("fx[{i}]: base and quote are both {}", fx.base));
        }
        rates.insert(
            (
                Currency::new(fx.base.clone()),
                Currency::new(fx.quote.clone()),
            ),
            fx.rate,
        );
    }
    Rates::new(rates)
}

/// The currency a session reports equity in.
pub(super) fn session_currency(config: &SessionConfig) -> Currency {
    Currency::new(
        config
            .session
            .currency
            .clone()
            .or_else(|| config.execution.first().map(|e| e.currency.clone()))
            .unwrap_or_else(|| "USD".to_owned()),
    )
}

/// Checks that `host` compiles plugins for the session's CPU meter.
pub fn check_meter(config: &SessionConfig, host: &StrategyHost) -> Result<(), SessionError> {
    let configured = config.session.cpu_meter();
    if configured == host.meter() {
        Ok(())
    } else {
        Err(SessionError::Meter {
            configured,
            host: host.meter(),
        })
    }
}

/// Checks the `venue` fields against `[[venues]]` and the mode.
fn validate_venues(config: &SessionConfig, problems: &mut Problems) {
    let mode = config.session.mode;
    let known = |id: &str| config.venues.iter().any(|v| v.id == id);
    for (i, v) in config.venues.iter().enumerate() {
        if config.venues[..i].iter().any(|o| o.id == v.id) {
            problems.push(format!("venues[{i}] ({}): id defined twice", v.id));
        }
    }
    for (i, inst) in config.instruments.iter().enumerate() {
        if let Some(v) = inst.venue.as_deref().filter(|v| !known(v)) {
            problems.push(format!(
                "instruments[{i}] ({}).venue: unknown venue '{v}'",
                inst.symbol
            ));
        }
    }
    for (i, data) in config.data.iter().enumerate() {
        let at = format!("data[{i}] ({})", data.instrument);
        for problem in data.problems() {
            problems.push(format!("{at}{problem}"));
        }
        match (data.stored(), &data.venue) {
            (Some(_), Some(_)) | (None, None) => problems.push(format!(
                "{at}: give either `path` or `catalog` (stored data) or `venue` (live streams)"
            )),
            (None, Some(v)) if !known(v) => problems.push(format!("{at}.venue: unknown venue '{v}'")),
            (None, Some(_)) if mode == Mode::Backtest => problems.push(format!(
                "{at}.venue: a backtest runs on stored data; live data needs mode paper, sandbox or live"
            )),
            (Some(_), None) if matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.path: {mode:?} sessions trade on the venue's live data; name the venue instead"
            ).to_lowercase()),
            _ => {}
        }
        if data.interval.is_some() && (data.venue.is_none() || data.kind != DataKind::Bars) {
            problems.push(format!("{at}.interval: only live bars have an interval"));
        }
    }
    for (i, ex) in config.execution.iter().enumerate() {
        let at = format!("execution[{i}] ({})", ex.id);
        match &ex.venue {
            Some(v) if !known(v) => problems.push(format!("{at}.venue: unknown venue '{v}'")),
            Some(_) if !matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.venue: orders go to a venue only in sandbox and live modes; {} sessions use the simulator",
                format!("{mode:?}").to_lowercase()
            )),
            None if matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.venue: {} sessions send orders to a venue; name one",
                format!("{mode:?}").to_lowercase()
            )),
            _ => {}
        }
    }
    if mode == Mode::Live {
        for (i, s) in config.strategies.iter().enumerate() {
            let r = &s.risk;
            if (r.max_order_qty.is_none() && r.max_order_notional.is_none())
                || r.max_position.is_none()
            {
                problems.push(format!(
                    "strategies[{i}] ({}).risk: live sessions need max_position and max_order_qty or max_order_notional",
                    s.id
                ));
            }
        }
    }
}

/// Checks the session file, returning reference data if it is usable.
pub fn validate(config: &SessionConfig, path: &Path) -> Result<ReferenceData, ConfigError> {
    let mut problems = Problems::default();
    let reference = ReferenceData::from_config(&config.instruments, &mut problems);
    let rates = configured_rates(config, &mut problems);
    let session_currency = session_currency(config);
    for (i, data) in config.data.iter().enumerate() {
        if reference.by_symbol(&data.instrument).is_none() {
            problems.push(format!(
                "data[{i}].instrument: unknown instrument '{}'",
                data.instrument
            ));
        }
        if config.data[..i]
            .iter()
            .any(|d| d.instrument == data.instrument && d.kind == data.kind)
        {
            problems.push(
                format!(
                    "data[{i}]: second {:?} file for '{}'",
                    data.kind, data.instrument
                )
                .to_lowercase(),
            );
        }
        if data.kind == DataKind::Bars
            && config
                .data
                .iter()
                .any(|d| d.instrument == data.instrument && d.kind != DataKind::Bars)
        {
            problems.push(format!(
                "data[{i}]: '{}' has both bars and quote/trade data; use one or the other",
                data.instrument
            ));
        }
    }
    for (i, ex) in config.execution.iter().enumerate() {
        let at = format!("execution[{i}] ({})", ex.id);
        if config.execution[..i].iter().any(|e| e.id == ex.id) {
            problems.push(format!("{at}: id defined twice"));
        }
        ex.check_bounds(&at, &mut problems);
        if ex.starting_cash < Decimal::ZERO {
            problems.push(format!(
                "{at}.starting_cash: must not be negative, got {}",
                ex.starting_cash
            ));
        }
        let fees = ex.fees();
        for (field, value) in [
            ("commission", ex.commission),
            ("maker_fee", fees.maker),
            ("taker_fee", fees.taker),
        ] {
            // Negative maker fees are rebates, which venues do pay.
            let floor = if field == "maker_fee" {
                -Decimal::ONE
            } else {
                Decimal::ZERO
            };
            if value < floor || value >= Decimal::ONE {
                problems.push(format!(
                    "{at}.{field}: must be a fraction in [{floor}, 1), got {value}"
                ));
            }
        }
        if ex.fee_per_order < Decimal::ZERO {
            problems.push(format!(
                "{at}.fee_per_order: must not be negative, got {}",
                ex.fee_per_order
            ));
        }
        if let Some(leverage) = ex.leverage {
            if ex.account == AccountType::Cash {
                problems.push(format!("{at}.leverage: only margin accounts have leverage"));
            } else if leverage < Decimal::ONE {
                problems.push(format!("{at}.leverage: must be at least 1, got {leverage}"));
            }
        }
        if let Some(cap) = ex.max_participation {
            if cap <= Decimal::ZERO || cap > Decimal::ONE {
                problems.push(format!(
                    "{at}.max_participation: must be a fraction in (0, 1], got {cap}"
                ));
            }
        }
        for (currency, amount) in &ex.balances {
            if amount.0 < Decimal::ZERO && ex.account == AccountType::Cash {
                problems.push(format!(
                    "{at}.balances.{currency}: a cash account cannot start negative, got {}",
                    amount.0
                ));
            }
            if !rates.has_path(
                &Currency::new(currency.clone()),
                &Currency::new(ex.currency.clone()),
                &reference,
            ) {
                problems.push(format!(
                    "{at}.balances.{currency}: no rate converts {currency} to {}; add an [[fx]] entry",
                    ex.currency
                ));
            }
        }
        if !rates.has_path(
            &Currency::new(ex.currency.clone()),
            &session_currency,
            &reference,
        ) {
            problems.push(format!(
                "{at}.currency: no rate converts {} to the session currency {session_currency}; add an [[fx]] entry",
                ex.currency
            ));
        }
        if ex.slippage_bps < Decimal::ZERO || ex.slippage_bps >= Decimal::from(10_000) {
            problems.push(format!(
                "{at}.slippage_bps: must be in [0, 10000), got {}",
                ex.slippage_bps
            ));
        }
    }
    validate_venues(config, &mut problems);
    if config.strategies.is_empty() {
        problems.push("strategies: at least one [[strategies]] entry is needed".to_owned());
    }
    for (i, s) in config.strategies.iter().enumerate() {
        let at = format!("strategies[{i}] ({})", s.id);
        if config.strategies[..i].iter().any(|o| o.id == s.id) {
            problems.push(format!("{at}: id defined twice"));
        }
        let execution = config.execution.iter().find(|e| e.id == s.execution);
        if execution.is_none() {
            problems.push(format!(
                "{at}.execution: unknown execution context '{}'",
                s.execution
            ));
        }
        for symbol in &s.instruments {
            match reference.by_symbol(symbol) {
                None => problems.push(format!("{at}.instruments: unknown instrument '{symbol}'")),
                Some(inst) => {
                    if !config.data.iter().any(|d| &d.instrument == symbol) {
                        problems.push(format!("{at}.instruments: no [[data]] for '{symbol}'"));
                    }
                    if let Some(ex) = execution.filter(|e| {
                        !rates.has_path(
                            &inst.quote_currency,
                            &Currency::new(e.currency.clone()),
                            &reference,
                        )
                    }) {
                        problems.push(format!(
                            "{at}.instruments: '{symbol}' is quoted in {} but no rate converts it to {}, the currency of execution context '{}'; add an [[fx]] entry or a {}{} instrument",
                            inst.quote_currency, ex.currency, ex.id, inst.quote_currency, ex.currency
                        ));
                    }
                }
            }
        }
        for problem in s.limits.problems() {
            problems.push(format!("{at}.limits.{problem}"));
        }
        if let Some(pin) = &s.sha256 {
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("{at}.sha256: must be 64 hex digits, got '{pin}'"));
            }
        }
        s.params_as_text(&mut problems);
    }
    if problems.is_empty() {
        Ok(reference)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}
