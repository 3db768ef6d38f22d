/*
 * {{name}}: buys `quantity` when the close rises above its simple moving
 * average over `period` bars and sells the position when it falls below.
 *
 * Build: {{build}}
 * Helpers: cracktrader.h (guest-sdk/c), on top of the bindings wit-bindgen
 * generates from wit/strategy.wit at build time.
 */
#include <stdlib.h>

#include "cracktrader.h"

struct ct_strategy {
  ct_instrument instrument;
  int64_t quantity; /* scaled by the instrument's qty_scale */
  ct_sma sma;
};

struct ct_strategy *ct_strategy_init(const ct_config *config, ct_info *info, ct_text *err) {
  const ct_instrument *instrument = NULL;
  const ct_string *symbol = ct_param_required(config, "instrument", err);
  if (symbol != NULL) instrument = ct_require_instrument(config, symbol, err);
  ct_decimal quantity;
  bool quantity_ok = ct_param_decimal(config, "quantity", &quantity, err);
  uint32_t period = 0;
  if (ct_param_u32(config, "period", 20, &period, err) && period < 1) {
    ct_text_next(err);
    ct_text_cstr(err, "parameter 'period' must be at least 1, got 0");
  }
  int64_t qty = 0;
  if (instrument != NULL && quantity_ok) ct_qty_from_decimal(instrument, quantity, &qty, err);
  if (err->len > 0) return NULL;

  struct ct_strategy *strategy = calloc(1, sizeof *strategy);
  if (strategy == NULL) __builtin_trap();
  ct_instrument_copy(&strategy->instrument, instrument);
  strategy->quantity = qty;
  ct_sma_init(&strategy->sma, period);
  ct_text message = {0};
  ct_text_cstr(&message, "trading ");
  ct_text_string(&message, symbol);
  ct_text_cstr(&message, " with SMA(");
  ct_text_u64(&message, period);
  ct_text_cstr(&message, ")");
  ct_log_text(CT_INFO, &message);
  ct_text_free(&message);
  info->name = ct_string_from("{{name}}");
  info->version = ct_string_from("0.1.0");
  info->subscriptions.ptr = malloc(sizeof(ct_string));
  if (info->subscriptions.ptr == NULL) __builtin_trap();
  info->subscriptions.ptr[0] = ct_string_copy(symbol);
  info->subscriptions.len = 1;
  info->warmup = period;
  return strategy;
}

void ct_strategy_on_step(struct ct_strategy *strategy, const ct_view *view, ct_intents *intents) {
  uint32_t id = strategy->instrument.id;
  const ct_bar *bar = ct_view_bar(view, id);
  if (bar == NULL) return;
  double close = ct_price_to_double(&strategy->instrument, bar->close);
  double average;
  if (!ct_sma_update(&strategy->sma, close, &average)) return;
  int64_t position = ct_view_position(view, id);
  if (close > average && position == 0 && ct_view_open_qty(view, id, CT_BUY) == 0) {
    ct_market(intents, id, CT_BUY, strategy->quantity, "entry");
  } else if (close < average && position > 0 && ct_view_open_qty(view, id, CT_SELL) == 0) {
    ct_market(intents, id, CT_SELL, position, "exit");
  }
}

void ct_strategy_free(struct ct_strategy *strategy) {
  cracktrader_strategy_types_instrument_free(&strategy->instrument);
  ct_sma_free(&strategy->sma);
  free(strategy);
}
