#include "js.h"

#include <cmath>

#include "names.h"

namespace {
constexpr double kMaxSafe = 9007199254740992.0;  // 2^53
}

bool Reader::Fail(const char* field, const char* what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    std::string message = std::string(fn) + ": " + prefix + field + " " + what;
    napi_throw_type_error(env, nullptr, message.c_str());
  }
  return false;
}

bool Reader::Prop(napi_value object, const char* key, napi_value* out) {
  napi_valuetype type;
  if (napi_typeof(env, object, &type) != napi_ok || type != napi_object) {
    std::string owner = prefix.empty() ? "an argument" : prefix.substr(0, prefix.size() - 1);
    std::string message = std::string(fn) + ": " + owner + " must be an object (reading ." + key + ")";
    napi_throw_type_error(env, nullptr, message.c_str());
    return false;
  }
  if (napi_get_named_property(env, object, key, out) != napi_ok) return Fail(key, "cannot be read");
  return true;
}

bool Reader::Double(napi_value v, const char* field, double* out) {
  if (napi_get_value_double(env, v, out) != napi_ok) return Fail(field, "must be a number");
  return true;
}

bool Reader::U64(napi_value v, const char* field, uint64_t* out) {
  double d;
  if (!Double(v, field, &d)) return false;
  if (!(d >= 0 && d <= kMaxSafe) || std::floor(d) != d) return Fail(field, "must be an integer from 0 to 2^53");
  *out = static_cast<uint64_t>(d);
  return true;
}

bool Reader::I64(napi_value v, const char* field, int64_t* out) {
  double d;
  if (!Double(v, field, &d)) return false;
  if (!(d >= -kMaxSafe && d <= kMaxSafe) || std::floor(d) != d) return Fail(field, "must be an integer within ±2^53");
  *out = static_cast<int64_t>(d);
  return true;
}

bool Reader::U32(napi_value v, const char* field, uint32_t* out) {
  uint64_t u;
  if (!U64(v, field, &u)) return false;
  if (u > 0xFFFFFFFFull) return Fail(field, "must be below 2^32");
  *out = static_cast<uint32_t>(u);
  return true;
}

bool Reader::Bool(napi_value v, const char* field, bool* out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) return Fail(field, "must be a boolean");
  return true;
}

bool Reader::TimeNs(napi_value v, const char* field, struct timespec* out) {
  int64_t ns;
  bool lossless;
  if (napi_get_value_bigint_int64(env, v, &ns, &lossless) != napi_ok) return Fail(field, "must be a bigint (ns)");
  if (!lossless) return Fail(field, "must fit in 64 bits");
  int64_t sec = ns / 1000000000;
  int64_t nsec = ns % 1000000000;
  if (nsec < 0) {
    nsec += 1000000000;
    sec -= 1;
  }
  out->tv_sec = sec;
  out->tv_nsec = nsec;
  return true;
}

bool Reader::Bytes(napi_value v, const char* field, std::string* out) {
  const char* why = nullptr;
  if (!JsToBytes(env, v, out, &why)) return Fail(field, why);
  return true;
}

bool Reader::U64At(napi_value o, const char* key, uint64_t* out) {
  napi_value v;
  return Prop(o, key, &v) && U64(v, key, out);
}
bool Reader::U32At(napi_value o, const char* key, uint32_t* out) {
  napi_value v;
  return Prop(o, key, &v) && U32(v, key, out);
}
bool Reader::BoolAt(napi_value o, const char* key, bool* out) {
  napi_value v;
  return Prop(o, key, &v) && Bool(v, key, out);
}
bool Reader::BytesAt(napi_value o, const char* key, std::string* out) {
  napi_value v;
  return Prop(o, key, &v) && Bytes(v, key, out);
}

napi_value MakeError(napi_env env, const char* code, const std::string& message) {
  napi_value code_value = nullptr, message_value, error;
  if (code) napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message.c_str(), message.size(), &message_value);
  napi_create_error(env, code_value, message_value, &error);
  return error;
}

void ThrowError(napi_env env, const char* code, const std::string& message) {
  napi_throw(env, MakeError(env, code, message));
}

double U64Number(uint64_t v) { return v > (1ull << 53) ? INFINITY : static_cast<double>(v); }

double I64Number(int64_t v) {
  double d = static_cast<double>(v);
  return d > kMaxSafe ? INFINITY : d < -kMaxSafe ? -INFINITY : d;
}

void Builder::Add(const char* key, napi_value value) {
  props_[n_++] = {key, nullptr, nullptr, nullptr, nullptr, value, napi_default_jsproperty, nullptr};
}

void Builder::U32(const char* key, uint32_t v) {
  napi_value value;
  napi_create_uint32(env_, v, &value);
  Add(key, value);
}

void Builder::U64(const char* key, uint64_t v) {
  napi_value value;
  napi_create_double(env_, U64Number(v), &value);
  Add(key, value);
}

void Builder::Bool(const char* key, bool v) {
  napi_value value;
  napi_get_boolean(env_, v, &value);
  Add(key, value);
}

void Builder::Ns(const char* key, const struct timespec& t) {
  napi_value value;
  napi_create_bigint_int64(env_, static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec, &value);
  Add(key, value);
}

napi_value Builder::Build() {
  napi_value object;
  napi_create_object(env_, &object);
  napi_define_properties(env_, object, n_, props_);
  return object;
}
