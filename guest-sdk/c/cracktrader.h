/*
 * Cracktrader guest helpers for C strategies.
 *
 * The C counterpart of the Rust `cracktrader-guest` crate, on top of the
 * bindings `wit-bindgen c` generates from wit/strategy.wit (strategy_plugin.h):
 * a view that keeps the latest account, exact decimal helpers, parameter
 * readers whose errors name the key and value, an SMA indicator whose double
 * arithmetic follows the Rust one operation for operation (bit-identical
 * results), the same versioned save-state byte layout, and logging.
 *
 * A strategy defines `struct ct_strategy` and implements the functions under
 * "What a strategy implements"; this library implements the component's
 * exports around them. Built with clang for wasm32-wasi as a reactor that
 * calls no WASI function: no stdio, no clocks. Strings from the host are
 * (pointer, length) pairs, not NUL-terminated.
 */
#ifndef CRACKTRADER_H
#define CRACKTRADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strategy_plugin.h"

/* Short names for the generated WIT types. */
typedef strategy_plugin_string_t ct_string;
typedef cracktrader_strategy_types_decimal_t ct_decimal;
typedef cracktrader_strategy_types_instrument_t ct_instrument;
typedef cracktrader_strategy_types_config_t ct_config;
typedef cracktrader_strategy_types_info_t ct_info;
typedef cracktrader_strategy_types_bar_t ct_bar;
typedef cracktrader_strategy_types_quote_t ct_quote;
typedef cracktrader_strategy_types_trade_t ct_trade;
typedef cracktrader_strategy_types_position_t ct_position;
typedef cracktrader_strategy_types_balance_t ct_balance;
typedef cracktrader_strategy_types_account_t ct_account;
typedef cracktrader_strategy_types_open_order_t ct_open_order;
typedef cracktrader_strategy_types_order_report_t ct_order_report;
typedef cracktrader_strategy_types_order_type_t ct_order_type;
typedef cracktrader_strategy_types_time_in_force_t ct_time_in_force;
typedef cracktrader_strategy_types_order_status_t ct_order_status;
typedef cracktrader_strategy_types_report_kind_t ct_report_kind;
typedef cracktrader_strategy_types_place_order_t ct_place_order;
typedef cracktrader_strategy_types_replace_order_t ct_replace_order;
typedef cracktrader_strategy_types_intent_t ct_intent;
typedef cracktrader_strategy_types_side_t ct_side;
typedef cracktrader_strategy_types_log_level_t ct_log_level;
typedef strategy_plugin_option_s64_t ct_option_s64;

#define CT_BUY CRACKTRADER_STRATEGY_TYPES_SIDE_BUY
#define CT_SELL CRACKTRADER_STRATEGY_TYPES_SIDE_SELL
/* `order_type.tag` of an open order. */
#define CT_ORDER_MARKET CRACKTRADER_STRATEGY_TYPES_ORDER_TYPE_MARKET
#define CT_ORDER_LIMIT CRACKTRADER_STRATEGY_TYPES_ORDER_TYPE_LIMIT
#define CT_ORDER_STOP CRACKTRADER_STRATEGY_TYPES_ORDER_TYPE_STOP
#define CT_ORDER_STOP_LIMIT CRACKTRADER_STRATEGY_TYPES_ORDER_TYPE_STOP_LIMIT
/* `time_in_force.tag`; build values with ct_tif_*() below. */
#define CT_TIF_GTC CRACKTRADER_STRATEGY_TYPES_TIME_IN_FORCE_GTC
#define CT_TIF_IOC CRACKTRADER_STRATEGY_TYPES_TIME_IN_FORCE_IOC
#define CT_TIF_FOK CRACKTRADER_STRATEGY_TYPES_TIME_IN_FORCE_FOK
#define CT_TIF_GTD CRACKTRADER_STRATEGY_TYPES_TIME_IN_FORCE_GTD
#define CT_TIF_DAY CRACKTRADER_STRATEGY_TYPES_TIME_IN_FORCE_DAY
/* Order statuses (open orders and reports). */
#define CT_STATUS_SUBMITTED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_SUBMITTED
#define CT_STATUS_ACCEPTED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_ACCEPTED
#define CT_STATUS_REJECTED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_REJECTED
#define CT_STATUS_PARTIALLY_FILLED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_PARTIALLY_FILLED
#define CT_STATUS_FILLED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_FILLED
#define CT_STATUS_PENDING_CANCEL CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_PENDING_CANCEL
#define CT_STATUS_CANCELLED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_CANCELLED
#define CT_STATUS_EXPIRED CRACKTRADER_STRATEGY_TYPES_ORDER_STATUS_EXPIRED
/* The event of a report (`ct_order_report.kind`). */
#define CT_REPORT_SUBMITTED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_SUBMITTED
#define CT_REPORT_ACCEPTED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_ACCEPTED
#define CT_REPORT_REJECTED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_REJECTED
#define CT_REPORT_TRIGGERED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_TRIGGERED
#define CT_REPORT_FILL CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_FILL
#define CT_REPORT_PENDING_CANCEL CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_PENDING_CANCEL
#define CT_REPORT_CANCELLED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_CANCELLED
#define CT_REPORT_EXPIRED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_EXPIRED
#define CT_REPORT_REPLACED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_REPLACED
#define CT_REPORT_CANCEL_REJECTED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_CANCEL_REJECTED
#define CT_REPORT_REPLACE_REJECTED CRACKTRADER_STRATEGY_TYPES_REPORT_KIND_REPLACE_REJECTED
#define CT_TRACE CRACKTRADER_STRATEGY_TYPES_LOG_LEVEL_TRACE
#define CT_DEBUG CRACKTRADER_STRATEGY_TYPES_LOG_LEVEL_DEBUG
#define CT_INFO CRACKTRADER_STRATEGY_TYPES_LOG_LEVEL_INFO
#define CT_WARN CRACKTRADER_STRATEGY_TYPES_LOG_LEVEL_WARN
#define CT_ERROR CRACKTRADER_STRATEGY_TYPES_LOG_LEVEL_ERROR

/* ---- Text: a growable byte buffer for messages and saved state ---------- */

/* Owned bytes; `{0}` is empty. Appending never fails: out of memory traps. */
typedef struct ct_text {
  uint8_t *ptr;
  size_t len;
  size_t cap;
} ct_text;

void ct_text_bytes(ct_text *text, const void *bytes, size_t len);
void ct_text_cstr(ct_text *text, const char *s);
void ct_text_string(ct_text *text, const ct_string *s);
void ct_text_i64(ct_text *text, int64_t value);
void ct_text_u64(ct_text *text, uint64_t value);
void ct_text_decimal(ct_text *text, ct_decimal value);
/* Starts another message of a "; "-separated list (nothing before the first). */
void ct_text_next(ct_text *text);
void ct_text_free(ct_text *text);

/* Whether a host string equals a C string. */
bool ct_string_eq(const ct_string *s, const char *cstr);
/* A malloc'd copy of `s` (what every string returned to the host must be). */
ct_string ct_string_copy(const ct_string *s);
ct_string ct_string_from(const char *cstr);

/* ---- Logging ------------------------------------------------------------ */

/* Writes a line to the session log, tagged by the host with the strategy id. */
void ct_log(ct_log_level level, const char *message);
void ct_log_text(ct_log_level level, const ct_text *message);

/* ---- Decimals and instruments ------------------------------------------- */

/* Parses [+-]digits[.digits] exactly; on error appends why to `err`.
 * Every `err` below is a "; "-separated list: helpers append one message each. */
bool ct_decimal_parse(const ct_string *text, ct_decimal *out, ct_text *err);
/* The mantissa at `scale` places; false if digits would be lost or i64 overflows. */
bool ct_decimal_rescale(ct_decimal value, uint8_t scale, int64_t *out);
/* The nearest double, computed as the Rust SDK does. */
double ct_decimal_to_double(ct_decimal value);
/* A scaled price as the nearest double, e.g. 107219 at scale 5 is 1.07219. */
double ct_price_to_double(const ct_instrument *instrument, int64_t price);
/* `qty` scaled by qty_scale if it is an exact lot multiple; else appends why to `err`. */
bool ct_qty_from_decimal(const ct_instrument *instrument, ct_decimal qty, int64_t *out,
                         ct_text *err);
/* A deep copy of `from` (the config, strings included, is freed after init). */
void ct_instrument_copy(ct_instrument *to, const ct_instrument *from);

/* ---- Parameters ---------------------------------------------------------- */

/* The text of parameter `key` (first occurrence), or NULL. */
const ct_string *ct_param(const ct_config *config, const char *key);
/* Required parameter `key`; on error appends a message naming it to `err`. */
const ct_string *ct_param_required(const ct_config *config, const char *key, ct_text *err);
/* Optional u32 parameter `key`, `fallback` when unset; errors as Rust's u32 parser names them. */
bool ct_param_u32(const ct_config *config, const char *key, uint32_t fallback, uint32_t *out,
                  ct_text *err);
/* Required decimal parameter `key`. */
bool ct_param_decimal(const ct_config *config, const char *key, ct_decimal *out, ct_text *err);
/* The granted instrument with this symbol, or NULL after appending the granted list to `err`. */
const ct_instrument *ct_require_instrument(const ct_config *config, const ct_string *symbol,
                                           ct_text *err);

/* ---- The view ------------------------------------------------------------ */

/* The step's market data plus the latest account the host sent (it sends one
 * only when it may have changed): `account.base_currency`, `account.equity`
 * and `account.margin_used` value the whole execution context (empty and zero
 * until the first account arrives). Owned by the library; valid during on_step. */
typedef struct ct_view {
  uint64_t snapshot_id;
  int64_t time;
  cracktrader_strategy_types_list_bar_t bars;
  cracktrader_strategy_types_list_quote_t quotes;
  cracktrader_strategy_types_list_trade_t trades;
  ct_account account;
} ct_view;

/* The bar of `instrument` that closed at this step, or NULL. */
const ct_bar *ct_view_bar(const ct_view *view, uint32_t instrument);
/* The quote of `instrument` at this step, or NULL. */
const ct_quote *ct_view_quote(const ct_view *view, uint32_t instrument);
/* The next trade of `instrument` printed at this step from `*cursor` on (start
 * it at 0), or NULL when there are no more:
 *   size_t at = 0;
 *   for (const ct_trade *t; (t = ct_view_trade(view, id, &at)) != NULL;) ... */
const ct_trade *ct_view_trade(const ct_view *view, uint32_t instrument, size_t *cursor);
/* The signed position (scaled by qty_scale), 0 if none. */
int64_t ct_view_position(const ct_view *view, uint32_t instrument);
/* Unfilled quantity of working `side` orders in `instrument`. */
int64_t ct_view_open_qty(const ct_view *view, uint32_t instrument, ct_side side);
/* Cash held in `currency` (e.g. "USD"), or NULL. */
const ct_balance *ct_view_balance(const ct_view *view, const char *currency);

/* ---- Intents ------------------------------------------------------------- */

/* The intents of one step, returned to the host after on_step. */
typedef exports_cracktrader_strategy_strategy_list_intent_t ct_intents;

/* New orders of `qty` (scaled by qty_scale) tagged `tag`, good till cancelled,
 * neither reduce-only nor post-only; prices are scaled by price_scale. Each
 * returns the order it added, to adjust with the setters below; the pointer is
 * valid until the next intent is added:
 *   ct_with_tif(ct_reduce_only(ct_stop(intents, id, CT_SELL, qty, stop, "sl")),
 *               ct_tif_day()); */
ct_place_order *ct_market(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                          const char *tag);
ct_place_order *ct_limit(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                         int64_t price, const char *tag);
/* A market order once `stop` trades. */
ct_place_order *ct_stop(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                        int64_t stop, const char *tag);
/* A limit order at `limit` once `stop` trades. */
ct_place_order *ct_stop_limit(ct_intents *intents, uint32_t instrument, ct_side side,
                              int64_t qty, int64_t stop, int64_t limit, const char *tag);

/* The order with time in force `tif`. */
ct_place_order *ct_with_tif(ct_place_order *order, ct_time_in_force tif);
/* The order, only ever reducing the position. */
ct_place_order *ct_reduce_only(ct_place_order *order);
/* The limit order, refused if it would take liquidity. */
ct_place_order *ct_post_only(ct_place_order *order);

/* Times in force. */
ct_time_in_force ct_tif_gtc(void);
ct_time_in_force ct_tif_ioc(void);
ct_time_in_force ct_tif_fok(void);
/* Until `time` (ns since the epoch). */
ct_time_in_force ct_tif_gtd(int64_t time);
ct_time_in_force ct_tif_day(void);

void ct_cancel(ct_intents *intents, uint64_t order_id);
/* Cancels every working order of the strategy. */
void ct_cancel_all(ct_intents *intents);
/* Cancels the strategy's working orders in `instrument`. */
void ct_cancel_all_of(ct_intents *intents, uint32_t instrument);

/* An optional value of ct_replace: CT_KEEP keeps the current one. */
#define CT_KEEP ((ct_option_s64){.is_some = false})
ct_option_s64 ct_some(int64_t value);
/* Changes working order `order_id`: new total quantity, limit and stop price:
 *   ct_replace(intents, id, CT_KEEP, ct_some(107250), CT_KEEP); */
void ct_replace(ct_intents *intents, uint64_t order_id, ct_option_s64 qty,
                ct_option_s64 limit_price, ct_option_s64 stop_price);

/* ---- Saved state (the Rust SDK's layout) --------------------------------- */

/* Starts state of layout `version` in `out`: a version byte, then values little-endian. */
void ct_state_begin(ct_text *out, uint8_t version);
void ct_state_u8(ct_text *out, uint8_t value);
void ct_state_u64(ct_text *out, uint64_t value);
void ct_state_f64(ct_text *out, double value);

/* Reads state; the first failed read records why in `err` and every later read fails. */
typedef struct ct_state_reader {
  const uint8_t *bytes;
  size_t len;
  size_t offset;
  uint8_t version;
  ct_text *err;
} ct_state_reader;

bool ct_state_open(ct_state_reader *reader, const uint8_t *bytes, size_t len, ct_text *err);
bool ct_state_read_u8(ct_state_reader *reader, uint8_t *out);
bool ct_state_read_u64(ct_state_reader *reader, uint64_t *out);
bool ct_state_read_f64(ct_state_reader *reader, double *out);
/* Fails if bytes are left over: they mean another layout. */
bool ct_state_finish(ct_state_reader *reader);

/* ---- Indicators ----------------------------------------------------------- */

/* Simple moving average with the Rust SDK's order of operations: once the
 * window is full `sum -= oldest`, then `sum += x`; the value is `sum / period`. */
typedef struct ct_sma {
  uint64_t period;
  uint64_t len;
  uint64_t next;
  double sum;
  double *window;
} ct_sma;

void ct_sma_init(ct_sma *sma, uint32_t period);
/* Adds `x`; true (and the average in `*value`) once `period` values were seen. */
bool ct_sma_update(ct_sma *sma, double x, double *value);
void ct_sma_save(const ct_sma *sma, ct_text *out);
/* Reads state written by ct_sma_save, checking it is consistent. */
bool ct_sma_restore(ct_sma *sma, ct_state_reader *reader);
void ct_sma_free(ct_sma *sma);

/* ---- What a strategy implements ------------------------------------------- */

/* Defined by the strategy. */
struct ct_strategy;

/* Builds the strategy (malloc'd) and fills `info` (its strings via
 * ct_string_copy/ct_string_from); or appends every problem to `err` and
 * returns NULL. `config` is freed after the call. */
struct ct_strategy *ct_strategy_init(const ct_config *config, ct_info *info, ct_text *err);
/* One step: read `view`, add intents. */
void ct_strategy_on_step(struct ct_strategy *strategy, const ct_view *view, ct_intents *intents);
/* Frees what ct_strategy_init allocated. */
void ct_strategy_free(struct ct_strategy *strategy);
/* Optional (the defaults save nothing and accept anything). */
void ct_strategy_save_state(const struct ct_strategy *strategy, ct_text *out);
bool ct_strategy_restore_state(struct ct_strategy *strategy, const uint8_t *bytes, size_t len,
                               ct_text *err);

#endif
