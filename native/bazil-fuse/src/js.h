// Reading the arguments of the addon's calls, with errors that name the call and the field
// ("replyEntry: entry.attr.mode must be a number"), and making errors with a code.
#pragma once

#include <node_api.h>
#include <time.h>

#include <cstdint>
#include <string>

struct Reader {
  napi_env env;
  const char* fn;      // the call: "replyEntry"
  std::string prefix;  // prepended to field names: "entries[3]."

  // Each returns false after throwing a TypeError (or RangeError) that names the field.
  bool Fail(const char* field, const char* what);
  bool Prop(napi_value object, const char* key, napi_value* out);  // object must be an object
  // A JS number that is an integer in [0, 2^53].
  bool U64(napi_value v, const char* field, uint64_t* out);
  // A JS number that is an integer in [-2^53, 2^53].
  bool I64(napi_value v, const char* field, int64_t* out);
  bool U32(napi_value v, const char* field, uint32_t* out);
  bool Double(napi_value v, const char* field, double* out);
  bool Bool(napi_value v, const char* field, bool* out);
  // A bigint of nanoseconds since the epoch.
  bool TimeNs(napi_value v, const char* field, struct timespec* out);
  bool Bytes(napi_value v, const char* field, std::string* out);  // a string, as names.h encodes it

  // The same, reading object[key] (field name = key).
  bool U64At(napi_value o, const char* key, uint64_t* out);
  bool U32At(napi_value o, const char* key, uint32_t* out);
  bool BoolAt(napi_value o, const char* key, bool* out);
  bool BytesAt(napi_value o, const char* key, std::string* out);
};

napi_value MakeError(napi_env env, const char* code, const std::string& message);
void ThrowError(napi_env env, const char* code, const std::string& message);

// The JS number for a 64-bit quantity from the kernel: exact up to 2^53, ±Infinity past it.
double U64Number(uint64_t v);
double I64Number(int64_t v);

// A JS object built with one napi_define_properties call (so objects of one kind share a shape).
class Builder {
 public:
  explicit Builder(napi_env env) : env_(env) {}
  void Add(const char* key, napi_value value);
  void U32(const char* key, uint32_t v);
  void U64(const char* key, uint64_t v);
  void Bool(const char* key, bool v);
  void Ns(const char* key, const struct timespec& t);  // a bigint of nanoseconds
  napi_value Build();

 private:
  napi_env env_;
  napi_property_descriptor props_[16];
  size_t n_ = 0;
};
