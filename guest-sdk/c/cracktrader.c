/* Cracktrader guest helpers for C strategies: see cracktrader.h. */
#include "cracktrader.h"

#include <stdlib.h>
#include <string.h>

/* Out of memory in a plugin has no recovery: trap, the host quarantines it. */
static void *must(void *ptr) {
  if (ptr == NULL) __builtin_trap();
  return ptr;
}

/* ---- Text ------------------------------------------------------------------ */

void ct_text_bytes(ct_text *text, const void *bytes, size_t len) {
  if (text->len + len > text->cap) {
    size_t cap = text->cap == 0 ? 64 : text->cap * 2;
    while (cap < text->len + len) cap *= 2;
    text->ptr = must(realloc(text->ptr, cap));
    text->cap = cap;
  }
  if (len > 0) memcpy(text->ptr + text->len, bytes, len);
  text->len += len;
}

void ct_text_cstr(ct_text *text, const char *s) { ct_text_bytes(text, s, strlen(s)); }

void ct_text_string(ct_text *text, const ct_string *s) { ct_text_bytes(text, s->ptr, s->len); }

void ct_text_u64(ct_text *text, uint64_t value) {
  char digits[20];
  size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  ct_text_bytes(text, digits + sizeof digits - n, n);
}

void ct_text_i64(ct_text *text, int64_t value) {
  if (value < 0) ct_text_cstr(text, "-");
  /* Negate in unsigned arithmetic: -INT64_MIN overflows int64_t. */
  ct_text_u64(text, value < 0 ? 0 - (uint64_t)value : (uint64_t)value);
}

void ct_text_decimal(ct_text *text, ct_decimal value) {
  ct_text digits = {0};
  ct_text_u64(&digits, value.mantissa < 0 ? 0 - (uint64_t)value.mantissa : (uint64_t)value.mantissa);
  if (value.mantissa < 0) ct_text_cstr(text, "-");
  size_t scale = value.scale;
  if (scale == 0) {
    ct_text_bytes(text, digits.ptr, digits.len);
  } else if (digits.len > scale) {
    ct_text_bytes(text, digits.ptr, digits.len - scale);
    ct_text_cstr(text, ".");
    ct_text_bytes(text, digits.ptr + digits.len - scale, scale);
  } else {
    /* Every digit lies after the point: (-5, 3) is -0.005. */
    ct_text_cstr(text, "0.");
    for (size_t i = digits.len; i < scale; i++) ct_text_cstr(text, "0");
    ct_text_bytes(text, digits.ptr, digits.len);
  }
  ct_text_free(&digits);
}

void ct_text_next(ct_text *text) {
  if (text->len > 0) ct_text_cstr(text, "; ");
}

void ct_text_free(ct_text *text) {
  free(text->ptr);
  *text = (ct_text){0};
}

bool ct_string_eq(const ct_string *s, const char *cstr) {
  size_t len = strlen(cstr);
  return s->len == len && (len == 0 || memcmp(s->ptr, cstr, len) == 0);
}

ct_string ct_string_copy(const ct_string *s) {
  ct_string copy = {NULL, s->len};
  if (s->len > 0) {
    copy.ptr = must(malloc(s->len));
    memcpy(copy.ptr, s->ptr, s->len);
  }
  return copy;
}

ct_string ct_string_from(const char *cstr) {
  ct_string view = {(uint8_t *)cstr, strlen(cstr)};
  return ct_string_copy(&view);
}

/* Moves the bytes of `text` into a host string (the host frees it after the call). */
static ct_string text_into_string(ct_text *text) {
  ct_string s = {text->ptr, text->len};
  if (text->len == 0) {
    free(text->ptr);
    s.ptr = NULL;
  }
  *text = (ct_text){0};
  return s;
}

/* ---- Logging --------------------------------------------------------------- */

void ct_log(ct_log_level level, const char *message) {
  ct_string s = {(uint8_t *)message, strlen(message)};
  cracktrader_strategy_host_log(level, &s);
}

void ct_log_text(ct_log_level level, const ct_text *message) {
  ct_string s = {message->ptr, message->len};
  cracktrader_strategy_host_log(level, &s);
}

/* ---- Decimals -------------------------------------------------------------- */

#define MAX_SCALE 28

/* Powers of ten as doubles, like the Rust SDK's table: exact up to 1e22. */
static const double POW10[MAX_SCALE + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14,
    1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
};

bool ct_decimal_parse(const ct_string *text, ct_decimal *out, ct_text *err) {
  const uint8_t *p = text->ptr;
  const uint8_t *end = p + text->len;
  bool negative = false;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  /* Accumulate negatively so that INT64_MIN parses too. */
  int64_t mantissa = 0;
  size_t int_digits = 0, frac_digits = 0;
  bool point = false, overflow = false;
  for (; p < end; p++) {
    if (*p == '.' && !point) {
      point = true;
      continue;
    }
    if (*p < '0' || *p > '9') break;
    if (point) frac_digits++; else int_digits++;
    overflow |= __builtin_mul_overflow(mantissa, 10, &mantissa);
    overflow |= __builtin_sub_overflow(mantissa, (int64_t)(*p - '0'), &mantissa);
  }
  if (p != end || int_digits == 0 || (point && frac_digits == 0)) {
    ct_text_next(err);
    ct_text_cstr(err, "invalid decimal '");
    ct_text_string(err, text);
    ct_text_cstr(err, "': expected [-]digits[.digits]");
    return false;
  }
  if (frac_digits > MAX_SCALE) {
    ct_text_next(err);
    ct_text_cstr(err, "decimal '");
    ct_text_string(err, text);
    ct_text_cstr(err, "' has more than 28 decimal places");
    return false;
  }
  if (!negative) overflow |= __builtin_sub_overflow((int64_t)0, mantissa, &mantissa);
  if (overflow) {
    ct_text_next(err);
    ct_text_cstr(err, "decimal '");
    ct_text_string(err, text);
    ct_text_cstr(err, "' does not fit in 64 bits");
    return false;
  }
  *out = (ct_decimal){mantissa, (uint8_t)frac_digits};
  return true;
}

bool ct_decimal_rescale(ct_decimal value, uint8_t scale, int64_t *out) {
  __int128 mantissa = value.mantissa;
  if (scale >= value.scale) {
    for (uint8_t i = value.scale; i < scale; i++) {
      mantissa *= 10;
      if (mantissa > INT64_MAX || mantissa < INT64_MIN) return false;
    }
  } else {
    __int128 factor = 1;
    for (uint8_t i = scale; i < value.scale; i++) factor *= 10;
    if (mantissa % factor != 0) return false;
    mantissa /= factor;
  }
  *out = (int64_t)mantissa;
  return true;
}

static double pow10_double(uint8_t scale) {
  return scale <= MAX_SCALE ? POW10[scale] : __builtin_inf();
}

double ct_decimal_to_double(ct_decimal value) {
  return (double)value.mantissa / pow10_double(value.scale);
}

double ct_price_to_double(const ct_instrument *instrument, int64_t price) {
  return (double)price / pow10_double(instrument->price_scale);
}

bool ct_qty_from_decimal(const ct_instrument *instrument, ct_decimal qty, int64_t *out,
                         ct_text *err) {
  int64_t scaled;
  if (!ct_decimal_rescale(qty, instrument->qty_scale, &scaled)) {
    ct_text_next(err);
    ct_text_cstr(err, "quantity ");
    ct_text_decimal(err, qty);
    if (qty.scale > instrument->qty_scale) {
      ct_text_cstr(err, " has more than ");
      ct_text_u64(err, instrument->qty_scale);
      ct_text_cstr(err, " decimal places for ");
    } else {
      ct_text_cstr(err, " is too large for ");
    }
    ct_text_string(err, &instrument->symbol);
    return false;
  }
  if (instrument->lot_size <= 0) {
    ct_text_next(err);
    ct_text_cstr(err, "instrument ");
    ct_text_string(err, &instrument->symbol);
    ct_text_cstr(err, " has an invalid lot size ");
    ct_text_i64(err, instrument->lot_size);
    return false;
  }
  if (scaled % instrument->lot_size != 0) {
    ct_text_next(err);
    ct_text_cstr(err, "quantity ");
    ct_text_decimal(err, qty);
    ct_text_cstr(err, " is not a multiple of the lot size ");
    ct_text_decimal(err, (ct_decimal){instrument->lot_size, instrument->qty_scale});
    ct_text_cstr(err, " for ");
    ct_text_string(err, &instrument->symbol);
    return false;
  }
  *out = scaled;
  return true;
}

void ct_instrument_copy(ct_instrument *to, const ct_instrument *from) {
  *to = *from;
  to->symbol = ct_string_copy(&from->symbol);
  to->base_currency = ct_string_copy(&from->base_currency);
  to->quote_currency = ct_string_copy(&from->quote_currency);
}

/* ---- Parameters ------------------------------------------------------------ */

const ct_string *ct_param(const ct_config *config, const char *key) {
  for (size_t i = 0; i < config->params.len; i++) {
    if (ct_string_eq(&config->params.ptr[i].f0, key)) return &config->params.ptr[i].f1;
  }
  return NULL;
}

const ct_string *ct_param_required(const ct_config *config, const char *key, ct_text *err) {
  const ct_string *value = ct_param(config, key);
  if (value == NULL) {
    ct_text_next(err);
    ct_text_cstr(err, "missing required parameter '");
    ct_text_cstr(err, key);
    ct_text_cstr(err, "'");
  }
  return value;
}

/* Starts "parameter 'key': invalid value 'text': " in `err`. */
static void invalid_param(ct_text *err, const char *key, const ct_string *text) {
  ct_text_next(err);
  ct_text_cstr(err, "parameter '");
  ct_text_cstr(err, key);
  ct_text_cstr(err, "': invalid value '");
  ct_text_string(err, text);
  ct_text_cstr(err, "': ");
}

bool ct_param_u32(const ct_config *config, const char *key, uint32_t fallback, uint32_t *out,
                  ct_text *err) {
  const ct_string *text = ct_param(config, key);
  if (text == NULL) {
    *out = fallback;
    return true;
  }
  const uint8_t *p = text->ptr, *end = p + text->len;
  if (p < end && *p == '+') p++;
  const char *reason = p == end ? (text->len == 0 ? "cannot parse integer from empty string"
                                                  : "invalid digit found in string")
                                : NULL;
  uint64_t value = 0;
  for (; reason == NULL && p < end; p++) {
    if (*p < '0' || *p > '9') {
      reason = "invalid digit found in string";
    } else {
      value = value * 10 + (uint64_t)(*p - '0');
      if (value > UINT32_MAX) reason = "number too large to fit in target type";
    }
  }
  if (reason != NULL) {
    invalid_param(err, key, text);
    ct_text_cstr(err, reason);
    return false;
  }
  *out = (uint32_t)value;
  return true;
}

bool ct_param_decimal(const ct_config *config, const char *key, ct_decimal *out, ct_text *err) {
  const ct_string *text = ct_param_required(config, key, err);
  if (text == NULL) return false;
  ct_text reason = {0};
  bool ok = ct_decimal_parse(text, out, &reason);
  if (!ok) {
    invalid_param(err, key, text);
    ct_text_bytes(err, reason.ptr, reason.len);
  }
  ct_text_free(&reason);
  return ok;
}

const ct_instrument *ct_require_instrument(const ct_config *config, const ct_string *symbol,
                                           ct_text *err) {
  for (size_t i = 0; i < config->instruments.len; i++) {
    const ct_instrument *instrument = &config->instruments.ptr[i];
    if (instrument->symbol.len == symbol->len &&
        memcmp(instrument->symbol.ptr, symbol->ptr, symbol->len) == 0) {
      return instrument;
    }
  }
  ct_text_next(err);
  ct_text_cstr(err, "instrument '");
  ct_text_string(err, symbol);
  ct_text_cstr(err, "' is not granted to this strategy (granted: ");
  for (size_t i = 0; i < config->instruments.len; i++) {
    if (i > 0) ct_text_cstr(err, ", ");
    ct_text_string(err, &config->instruments.ptr[i].symbol);
  }
  if (config->instruments.len == 0) ct_text_cstr(err, "none");
  ct_text_cstr(err, ")");
  return NULL;
}

/* ---- View ------------------------------------------------------------------ */

const ct_bar *ct_view_bar(const ct_view *view, uint32_t instrument) {
  for (size_t i = 0; i < view->bars.len; i++) {
    if (view->bars.ptr[i].instrument == instrument) return &view->bars.ptr[i];
  }
  return NULL;
}

const ct_quote *ct_view_quote(const ct_view *view, uint32_t instrument) {
  for (size_t i = 0; i < view->quotes.len; i++) {
    if (view->quotes.ptr[i].instrument == instrument) return &view->quotes.ptr[i];
  }
  return NULL;
}

const ct_trade *ct_view_trade(const ct_view *view, uint32_t instrument, size_t *cursor) {
  for (; *cursor < view->trades.len; (*cursor)++) {
    const ct_trade *trade = &view->trades.ptr[*cursor];
    if (trade->instrument == instrument) {
      (*cursor)++;
      return trade;
    }
  }
  return NULL;
}

int64_t ct_view_position(const ct_view *view, uint32_t instrument) {
  for (size_t i = 0; i < view->account.positions.len; i++) {
    if (view->account.positions.ptr[i].instrument == instrument) {
      return view->account.positions.ptr[i].qty;
    }
  }
  return 0;
}

int64_t ct_view_open_qty(const ct_view *view, uint32_t instrument, ct_side side) {
  int64_t total = 0;
  for (size_t i = 0; i < view->account.open_orders.len; i++) {
    const ct_open_order *order = &view->account.open_orders.ptr[i];
    if (order->instrument == instrument && order->side == side) {
      total += order->qty - order->filled_qty;
    }
  }
  return total;
}

const ct_balance *ct_view_balance(const ct_view *view, const char *currency) {
  for (size_t i = 0; i < view->account.balances.len; i++) {
    const ct_balance *balance = &view->account.balances.ptr[i];
    if (ct_string_eq(&balance->currency, currency)) return balance;
  }
  return NULL;
}

/* ---- Intents --------------------------------------------------------------- */

static ct_intent *push_intent(ct_intents *intents) {
  /* Steps return few intents: grow one at a time. */
  intents->ptr = must(realloc(intents->ptr, (intents->len + 1) * sizeof(ct_intent)));
  ct_intent *intent = &intents->ptr[intents->len++];
  memset(intent, 0, sizeof *intent);
  return intent;
}

static ct_place_order *place(ct_intents *intents, uint32_t instrument, ct_side side,
                             int64_t qty, ct_order_type order_type, const char *tag) {
  ct_intent *intent = push_intent(intents);
  intent->tag = CRACKTRADER_STRATEGY_TYPES_INTENT_PLACE;
  intent->val.place = (ct_place_order){
      .instrument = instrument,
      .side = side,
      .order_type = order_type,
      .time_in_force = ct_tif_gtc(),
      .qty = qty,
      .reduce_only = false,
      .post_only = false,
      /* The host's post-return frees every returned string. */
      .client_tag = ct_string_from(tag),
  };
  return &intent->val.place;
}

ct_place_order *ct_market(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                          const char *tag) {
  ct_order_type market = {.tag = CT_ORDER_MARKET};
  return place(intents, instrument, side, qty, market, tag);
}

ct_place_order *ct_limit(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                         int64_t price, const char *tag) {
  ct_order_type limit = {.tag = CT_ORDER_LIMIT, .val.limit = price};
  return place(intents, instrument, side, qty, limit, tag);
}

ct_place_order *ct_stop(ct_intents *intents, uint32_t instrument, ct_side side, int64_t qty,
                        int64_t stop, const char *tag) {
  ct_order_type order_type = {.tag = CT_ORDER_STOP, .val.stop = stop};
  return place(intents, instrument, side, qty, order_type, tag);
}

ct_place_order *ct_stop_limit(ct_intents *intents, uint32_t instrument, ct_side side,
                              int64_t qty, int64_t stop, int64_t limit, const char *tag) {
  ct_order_type order_type = {.tag = CT_ORDER_STOP_LIMIT,
                              .val.stop_limit = {.stop = stop, .limit = limit}};
  return place(intents, instrument, side, qty, order_type, tag);
}

ct_place_order *ct_with_tif(ct_place_order *order, ct_time_in_force tif) {
  order->time_in_force = tif;
  return order;
}

ct_place_order *ct_reduce_only(ct_place_order *order) {
  order->reduce_only = true;
  return order;
}

ct_place_order *ct_post_only(ct_place_order *order) {
  order->post_only = true;
  return order;
}

ct_time_in_force ct_tif_gtc(void) { return (ct_time_in_force){.tag = CT_TIF_GTC}; }
ct_time_in_force ct_tif_ioc(void) { return (ct_time_in_force){.tag = CT_TIF_IOC}; }
ct_time_in_force ct_tif_fok(void) { return (ct_time_in_force){.tag = CT_TIF_FOK}; }
ct_time_in_force ct_tif_gtd(int64_t time) {
  return (ct_time_in_force){.tag = CT_TIF_GTD, .val.gtd = time};
}
ct_time_in_force ct_tif_day(void) { return (ct_time_in_force){.tag = CT_TIF_DAY}; }

void ct_cancel(ct_intents *intents, uint64_t order_id) {
  ct_intent *intent = push_intent(intents);
  intent->tag = CRACKTRADER_STRATEGY_TYPES_INTENT_CANCEL;
  intent->val.cancel = order_id;
}

void ct_cancel_all(ct_intents *intents) {
  ct_intent *intent = push_intent(intents);
  intent->tag = CRACKTRADER_STRATEGY_TYPES_INTENT_CANCEL_ALL;
  intent->val.cancel_all.is_some = false;
}

void ct_cancel_all_of(ct_intents *intents, uint32_t instrument) {
  ct_intent *intent = push_intent(intents);
  intent->tag = CRACKTRADER_STRATEGY_TYPES_INTENT_CANCEL_ALL;
  intent->val.cancel_all.is_some = true;
  intent->val.cancel_all.val = instrument;
}

ct_option_s64 ct_some(int64_t value) { return (ct_option_s64){.is_some = true, .val = value}; }

void ct_replace(ct_intents *intents, uint64_t order_id, ct_option_s64 qty,
                ct_option_s64 limit_price, ct_option_s64 stop_price) {
  ct_intent *intent = push_intent(intents);
  intent->tag = CRACKTRADER_STRATEGY_TYPES_INTENT_REPLACE;
  intent->val.replace = (ct_replace_order){
      .order_id = order_id,
      .qty = qty,
      .limit_price = limit_price,
      .stop_price = stop_price,
  };
}

/* ---- Saved state ------------------------------------------------------------ */

void ct_state_begin(ct_text *out, uint8_t version) { ct_text_bytes(out, &version, 1); }

void ct_state_u8(ct_text *out, uint8_t value) { ct_text_bytes(out, &value, 1); }

void ct_state_u64(ct_text *out, uint64_t value) {
  uint8_t bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(value >> (8 * i));
  ct_text_bytes(out, bytes, 8);
}

void ct_state_f64(ct_text *out, double value) {
  uint64_t bits;
  memcpy(&bits, &value, sizeof bits);
  ct_state_u64(out, bits);
}

bool ct_state_open(ct_state_reader *reader, const uint8_t *bytes, size_t len, ct_text *err) {
  *reader = (ct_state_reader){bytes, len, 1, 0, err};
  if (len == 0) {
    ct_text_cstr(err, "state is empty: no version byte");
    reader->offset = 0;
    return false;
  }
  reader->version = bytes[0];
  return true;
}

static const uint8_t *take(ct_state_reader *reader, size_t n) {
  if (reader->err->len > 0) return NULL;
  size_t rest = reader->len - reader->offset;
  if (rest < n) {
    ct_text_cstr(reader->err, "state version ");
    ct_text_u64(reader->err, reader->version);
    ct_text_cstr(reader->err, " is truncated: expected ");
    ct_text_u64(reader->err, n);
    ct_text_cstr(reader->err, " more bytes at offset ");
    ct_text_u64(reader->err, reader->offset);
    ct_text_cstr(reader->err, ", found ");
    ct_text_u64(reader->err, rest);
    return NULL;
  }
  const uint8_t *at = reader->bytes + reader->offset;
  reader->offset += n;
  return at;
}

bool ct_state_read_u8(ct_state_reader *reader, uint8_t *out) {
  const uint8_t *at = take(reader, 1);
  if (at != NULL) *out = *at;
  return at != NULL;
}

bool ct_state_read_u64(ct_state_reader *reader, uint64_t *out) {
  const uint8_t *at = take(reader, 8);
  if (at == NULL) return false;
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value |= (uint64_t)at[i] << (8 * i);
  *out = value;
  return true;
}

bool ct_state_read_f64(ct_state_reader *reader, double *out) {
  uint64_t bits;
  if (!ct_state_read_u64(reader, &bits)) return false;
  memcpy(out, &bits, sizeof bits);
  return true;
}

bool ct_state_finish(ct_state_reader *reader) {
  if (reader->err->len > 0) return false;
  if (reader->offset != reader->len) {
    ct_text_cstr(reader->err, "state version ");
    ct_text_u64(reader->err, reader->version);
    ct_text_cstr(reader->err, " has ");
    ct_text_u64(reader->err, reader->len - reader->offset);
    ct_text_cstr(reader->err, " unexpected trailing bytes at offset ");
    ct_text_u64(reader->err, reader->offset);
    return false;
  }
  return true;
}

/* ---- Indicators ------------------------------------------------------------- */

void ct_sma_init(ct_sma *sma, uint32_t period) {
  if (period == 0) __builtin_trap(); /* validate parameters before building indicators */
  *sma = (ct_sma){.period = period, .window = must(calloc(period, sizeof(double)))};
}

bool ct_sma_update(ct_sma *sma, double x, double *value) {
  if (sma->len < sma->period) {
    sma->window[sma->len++] = x;
  } else {
    sma->sum -= sma->window[sma->next];
    sma->window[sma->next] = x;
    sma->next = (sma->next + 1) % sma->period;
  }
  sma->sum += x;
  if (sma->len < sma->period) return false;
  *value = sma->sum / (double)sma->period;
  return true;
}

void ct_sma_save(const ct_sma *sma, ct_text *out) {
  ct_state_u64(out, sma->period);
  ct_state_u64(out, sma->len);
  ct_state_u64(out, sma->next);
  ct_state_f64(out, sma->sum);
  for (uint64_t i = 0; i < sma->len; i++) ct_state_f64(out, sma->window[i]);
}

bool ct_sma_restore(ct_sma *sma, ct_state_reader *reader) {
  uint64_t period = 0, len = 0, next = 0;
  double sum = 0;
  if (!ct_state_read_u64(reader, &period) || !ct_state_read_u64(reader, &len) ||
      !ct_state_read_u64(reader, &next) || !ct_state_read_f64(reader, &sum)) {
    return false;
  }
  bool ring_ok = len == period ? next < period : next == 0;
  /* Each value takes 8 bytes: a corrupt huge period cannot allocate more than the bytes hold. */
  if (period == 0 || len > period || !ring_ok || period > UINT32_MAX ||
      len > (reader->len - reader->offset) / 8) {
    ct_text_cstr(reader->err, "inconsistent Sma state: period ");
    ct_text_u64(reader->err, period);
    ct_text_cstr(reader->err, ", window length ");
    ct_text_u64(reader->err, len);
    ct_text_cstr(reader->err, ", ring index ");
    ct_text_u64(reader->err, next);
    return false;
  }
  ct_sma restored;
  ct_sma_init(&restored, (uint32_t)period);
  for (uint64_t i = 0; i < len; i++) ct_state_read_f64(reader, &restored.window[i]);
  restored.len = len;
  restored.next = next;
  restored.sum = sum;
  ct_sma_free(sma);
  *sma = restored;
  return true;
}

void ct_sma_free(ct_sma *sma) {
  free(sma->window);
  sma->window = NULL;
}

/* ---- The component's exports -------------------------------------------------- */

static struct ct_strategy *instance;
static ct_view view;
static bool have_account;

__attribute__((weak)) void ct_strategy_save_state(const struct ct_strategy *strategy,
                                                  ct_text *out) {
  (void)strategy;
  (void)out;
}

__attribute__((weak)) bool ct_strategy_restore_state(struct ct_strategy *strategy,
                                                     const uint8_t *bytes, size_t len,
                                                     ct_text *err) {
  (void)strategy;
  (void)bytes;
  (void)len;
  (void)err;
  return true;
}

/* Frees the step's market data (the arguments of on_step are ours to free). */
static void drop_market_data(void) {
  cracktrader_strategy_types_list_bar_free(&view.bars);
  cracktrader_strategy_types_list_quote_free(&view.quotes);
  cracktrader_strategy_types_list_trade_free(&view.trades);
}

static void drop_view(void) {
  drop_market_data();
  if (have_account) cracktrader_strategy_types_account_free(&view.account);
  memset(&view, 0, sizeof view);
  have_account = false;
}

static struct ct_strategy *required(const char *call) {
  if (instance == NULL) {
    ct_text message = {0};
    ct_text_cstr(&message, "cracktrader: ");
    ct_text_cstr(&message, call);
    ct_text_cstr(&message, " called before a successful init; the host must call init first");
    ct_log_text(CT_ERROR, &message);
    __builtin_trap();
  }
  return instance;
}

bool exports_cracktrader_strategy_strategy_init(exports_cracktrader_strategy_strategy_config_t *config,
                                                exports_cracktrader_strategy_strategy_info_t *ret,
                                                ct_string *err) {
  /* A refused config must not leave an earlier instance answering steps. */
  if (instance != NULL) ct_strategy_free(instance);
  instance = NULL;
  drop_view();
  ct_text message = {0};
  memset(ret, 0, sizeof *ret);
  instance = ct_strategy_init(config, ret, &message);
  cracktrader_strategy_types_config_free(config);
  if (instance == NULL) {
    cracktrader_strategy_types_info_free(ret);
    if (message.len == 0) ct_text_cstr(&message, "init refused the config");
    *err = text_into_string(&message);
    return false;
  }
  ct_text_free(&message);
  return true;
}

void exports_cracktrader_strategy_strategy_on_step(exports_cracktrader_strategy_strategy_view_t *step,
                                                   ct_intents *ret) {
  struct ct_strategy *strategy = required("on-step");
  /* The arguments are ours to free: keep the account until a newer one comes. */
  drop_market_data();
  view.snapshot_id = step->snapshot_id;
  view.time = step->time;
  view.bars = step->bars;
  view.quotes = step->quotes;
  view.trades = step->trades;
  if (step->account.is_some) {
    if (have_account) cracktrader_strategy_types_account_free(&view.account);
    view.account = step->account.val;
    have_account = true;
  } else {
    /* Reports are only those since the previous step. */
    cracktrader_strategy_types_list_order_report_free(&view.account.reports);
    view.account.reports = (cracktrader_strategy_types_list_order_report_t){0};
  }
  *ret = (ct_intents){0};
  ct_strategy_on_step(strategy, &view, ret);
}

void exports_cracktrader_strategy_strategy_save_state(strategy_plugin_list_u8_t *ret) {
  ct_text out = {0};
  ct_strategy_save_state(required("save-state"), &out);
  ct_string bytes = text_into_string(&out);
  *ret = (strategy_plugin_list_u8_t){bytes.ptr, bytes.len};
}

bool exports_cracktrader_strategy_strategy_restore_state(strategy_plugin_list_u8_t *state,
                                                         ct_string *err) {
  ct_text message = {0};
  bool ok;
  if (instance == NULL) {
    ct_text_cstr(&message, "restore-state called before a successful init");
    ok = false;
  } else {
    ok = ct_strategy_restore_state(instance, state->ptr, state->len, &message);
  }
  strategy_plugin_list_u8_free(state);
  if (!ok) {
    if (message.len == 0) ct_text_cstr(&message, "restore-state refused the state");
    *err = text_into_string(&message);
  } else {
    ct_text_free(&message);
  }
  return ok;
}
