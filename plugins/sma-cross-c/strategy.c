/*
 * Long-only simple-moving-average crossover: plugins/sma-cross in C.
 *
 * Same parameters, orders, tags, error messages and save-state layout as the
 * Rust reference, and the same double arithmetic in the same order, so a
 * backtest gives the identical trade list (asserted by the integration
 * tests). Built by `cargo xtask plugins` into target/plugins/sma-cross-c.wasm.
 */
#include <stdlib.h>

#include "cracktrader.h"

#define ENTRY_TAG "sma-cross-entry"
#define EXIT_TAG "sma-cross-exit"
/* Layout of save_state: fast Sma, slow Sma, previous-difference flag and f64. */
#define STATE_VERSION 1

struct ct_strategy {
  ct_instrument instrument;
  /* Target long position, scaled by the instrument's qty_scale. */
  int64_t quantity;
  ct_sma fast;
  ct_sma slow;
  /* fast - slow at the previous bar where both were ready. */
  bool has_prev;
  double prev_diff;
};

struct ct_strategy *ct_strategy_init(const ct_config *config, ct_info *info, ct_text *err) {
  /* Check every parameter before giving up, so one run reports all mistakes. */
  const ct_instrument *instrument = NULL;
  const ct_string *symbol = ct_param_required(config, "instrument", err);
  if (symbol != NULL) instrument = ct_require_instrument(config, symbol, err);
  uint32_t fast = 0, slow = 0;
  bool fast_ok = ct_param_u32(config, "fast", 10, &fast, err);
  if (fast_ok && fast < 1) {
    ct_text_next(err);
    ct_text_cstr(err, "parameter 'fast' must be at least 1, got ");
    ct_text_u64(err, fast);
    fast_ok = false;
  }
  bool slow_ok = ct_param_u32(config, "slow", 30, &slow, err);
  if (fast_ok && slow_ok && slow <= fast) {
    ct_text_next(err);
    ct_text_cstr(err, "parameter 'slow' (");
    ct_text_u64(err, slow);
    ct_text_cstr(err, ") must be greater than 'fast' (");
    ct_text_u64(err, fast);
    ct_text_cstr(err, ")");
  }
  ct_decimal quantity;
  bool quantity_ok = ct_param_decimal(config, "quantity", &quantity, err);
  int64_t target = 0;
  if (instrument != NULL && quantity_ok) {
    ct_text reason = {0};
    if (!ct_qty_from_decimal(instrument, quantity, &target, &reason)) {
      ct_text_next(err);
      ct_text_cstr(err, "parameter 'quantity': ");
      ct_text_bytes(err, reason.ptr, reason.len);
    } else if (target <= 0) {
      ct_text_next(err);
      ct_text_cstr(err, "parameter 'quantity' must be positive, got ");
      ct_text_decimal(err, quantity);
    }
    ct_text_free(&reason);
  }
  if (err->len > 0) return NULL;

  struct ct_strategy *strategy = calloc(1, sizeof *strategy);
  if (strategy == NULL) __builtin_trap();
  ct_instrument_copy(&strategy->instrument, instrument);
  strategy->quantity = target;
  ct_sma_init(&strategy->fast, fast);
  ct_sma_init(&strategy->slow, slow);
  info->name = ct_string_from("sma-cross-c");
  info->version = ct_string_from("0.1.0");
  info->subscriptions.len = 1;
  info->subscriptions.ptr = malloc(sizeof(ct_string));
  if (info->subscriptions.ptr == NULL) __builtin_trap();
  info->subscriptions.ptr[0] = ct_string_copy(&instrument->symbol);
  info->warmup = slow;
  return strategy;
}

void ct_strategy_on_step(struct ct_strategy *strategy, const ct_view *view, ct_intents *intents) {
  uint32_t id = strategy->instrument.id;
  const ct_bar *bar = ct_view_bar(view, id);
  if (bar == NULL) return;
  double close = ct_price_to_double(&strategy->instrument, bar->close);
  /* Update both averages on every bar, even while one is still warming up. */
  double fast, slow;
  bool fast_ready = ct_sma_update(&strategy->fast, close, &fast);
  bool slow_ready = ct_sma_update(&strategy->slow, close, &slow);
  if (!fast_ready || !slow_ready) return;
  double diff = fast - slow;
  bool has_prev = strategy->has_prev;
  double prev = strategy->prev_diff;
  strategy->has_prev = true;
  strategy->prev_diff = diff;
  /* The first ready bar has nothing to cross from: it only records. */
  if (!has_prev) return;
  int64_t position = ct_view_position(view, id);
  if (prev <= 0.0 && diff > 0.0) {
    int64_t qty = strategy->quantity - position - ct_view_open_qty(view, id, CT_BUY);
    if (qty > 0) ct_market(intents, id, CT_BUY, qty, ENTRY_TAG);
  } else if (prev >= 0.0 && diff < 0.0) {
    int64_t qty = position - ct_view_open_qty(view, id, CT_SELL);
    if (qty > 0) ct_market(intents, id, CT_SELL, qty, EXIT_TAG);
  }
}

void ct_strategy_free(struct ct_strategy *strategy) {
  cracktrader_strategy_types_instrument_free(&strategy->instrument);
  ct_sma_free(&strategy->fast);
  ct_sma_free(&strategy->slow);
  free(strategy);
}

void ct_strategy_save_state(const struct ct_strategy *strategy, ct_text *out) {
  ct_state_begin(out, STATE_VERSION);
  ct_sma_save(&strategy->fast, out);
  ct_sma_save(&strategy->slow, out);
  ct_state_u8(out, strategy->has_prev ? 1 : 0);
  ct_state_f64(out, strategy->has_prev ? strategy->prev_diff : 0.0);
}

bool ct_strategy_restore_state(struct ct_strategy *strategy, const uint8_t *bytes, size_t len,
                               ct_text *err) {
  ct_state_reader reader;
  if (!ct_state_open(&reader, bytes, len, err)) return false;
  if (reader.version != STATE_VERSION) {
    ct_text_cstr(err, "unsupported sma-cross state version ");
    ct_text_u64(err, reader.version);
    ct_text_cstr(err, " (this build reads version 1)");
    return false;
  }
  ct_sma fast = {0}, slow = {0};
  uint8_t flag = 0;
  double prev = 0.0;
  bool ok = ct_sma_restore(&fast, &reader) && ct_sma_restore(&slow, &reader) &&
            ct_state_read_u8(&reader, &flag) && ct_state_read_f64(&reader, &prev);
  if (ok && flag > 1) {
    ct_text_cstr(err, "invalid previous-difference flag ");
    ct_text_u64(err, flag);
    ct_text_cstr(err, " in sma-cross state");
    ok = false;
  }
  ok = ok && ct_state_finish(&reader);
  /* Averages over other periods would silently change the configured strategy. */
  const char *names[2] = {"fast", "slow"};
  const ct_sma *saved[2] = {&fast, &slow};
  const ct_sma *configured[2] = {&strategy->fast, &strategy->slow};
  for (int i = 0; ok && i < 2; i++) {
    if (saved[i]->period != configured[i]->period) {
      ct_text_cstr(err, "saved state has ");
      ct_text_cstr(err, names[i]);
      ct_text_cstr(err, " period ");
      ct_text_u64(err, saved[i]->period);
      ct_text_cstr(err, " but the config says ");
      ct_text_u64(err, configured[i]->period);
      ok = false;
    }
  }
  if (!ok) {
    ct_sma_free(&fast);
    ct_sma_free(&slow);
    return false;
  }
  ct_sma_free(&strategy->fast);
  ct_sma_free(&strategy->slow);
  strategy->fast = fast;
  strategy->slow = slow;
  strategy->has_prev = flag == 1;
  strategy->prev_diff = prev;
  return true;
}
