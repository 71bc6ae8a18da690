#include "names.h"

#include <cstdint>
#include <vector>

namespace {

// Decodes one strict UTF-8 sequence at b[i]; false if it is not one (overlong forms, surrogates
// and code points past U+10FFFF are not).
bool DecodeOne(const uint8_t* b, size_t len, size_t i, uint32_t* cp, size_t* n) {
  uint8_t c = b[i];
  size_t more;
  uint32_t v;
  if (c < 0x80) {
    *cp = c;
    *n = 1;
    return true;
  } else if (c >= 0xC2 && c <= 0xDF) {
    more = 1;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    more = 2;
    v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    more = 3;
    v = c & 0x07;
  } else {
    return false;
  }
  if (i + more >= len) return false;  // truncated at the end
  for (size_t k = 1; k <= more; k++) {
    uint8_t cc = b[i + k];
    if ((cc & 0xC0) != 0x80) return false;
    v = (v << 6) | (cc & 0x3F);
  }
  if (more == 2 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) return false;
  if (more == 3 && (v < 0x10000 || v > 0x10FFFF)) return false;
  *cp = v;
  *n = more + 1;
  return true;
}

}  // namespace

napi_status NameToJs(napi_env env, const char* bytes, size_t len, napi_value* out) {
  const uint8_t* b = reinterpret_cast<const uint8_t*>(bytes);
  bool ascii = true;
  for (size_t i = 0; i < len; i++) {
    if (b[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return napi_create_string_latin1(env, bytes, len, out);
  bool valid = true;
  for (size_t i = 0, n; i < len; i += n) {
    uint32_t cp;
    if (!DecodeOne(b, len, i, &cp, &n)) {
      valid = false;
      break;
    }
  }
  if (valid) return napi_create_string_utf8(env, bytes, len, out);
  std::vector<char16_t> units;
  units.reserve(len);
  for (size_t i = 0, n; i < len; i += n) {
    uint32_t cp;
    if (!DecodeOne(b, len, i, &cp, &n)) {
      units.push_back(static_cast<char16_t>(0xDC00 + b[i]));
      n = 1;
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      units.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      units.push_back(static_cast<char16_t>(cp));
    }
  }
  return napi_create_string_utf16(env, units.data(), units.size(), out);
}

bool JsToBytes(napi_env env, napi_value value, std::string* out, const char** why) {
  size_t length;
  if (napi_get_value_string_utf16(env, value, nullptr, 0, &length) != napi_ok) {
    *why = "is not a string";
    return false;
  }
  char16_t small[256];
  std::vector<char16_t> big;
  char16_t* u = small;
  if (length + 1 > sizeof(small) / sizeof(small[0])) {
    big.resize(length + 1);
    u = big.data();
  }
  napi_get_value_string_utf16(env, value, u, length + 1, &length);
  out->clear();
  out->reserve(length);
  for (size_t i = 0; i < length; i++) {
    uint32_t c = u[i];
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c >= 0xD800 && c <= 0xDBFF && i + 1 < length && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF) {
      uint32_t cp = 0x10000 + ((c - 0xD800) << 10) + (u[i + 1] - 0xDC00);
      i++;
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (c >= 0xDC80 && c <= 0xDCFF) {
      out->push_back(static_cast<char>(c - 0xDC00));  // an escaped byte
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      *why = "holds a lone surrogate that is not an escaped byte (U+DC80..U+DCFF)";
      return false;
    } else {
      out->push_back(static_cast<char>(0xE0 | (c >> 12)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return true;
}
