// Names (and symlink targets, paths) between the kernel's bytes and JS strings.
//
// A Linux name is any bytes but NUL and '/'; a JS string is UTF-16. Valid UTF-8 becomes the
// string it spells; each byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF
// (U+DC00 + the byte), as Python's "surrogateescape" does. Going back, such a lone surrogate
// becomes its byte again, so every name round-trips exactly, and names that are valid UTF-8
// (nearly all) read as the text they are.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <string>

napi_status NameToJs(napi_env env, const char* bytes, size_t len, napi_value* out);

// The bytes a JS string stands for. False, with *why set, when the string is not a string or
// holds a lone surrogate that is not an escaped byte (no name the kernel sent decodes to one).
bool JsToBytes(napi_env env, napi_value value, std::string* out, const char** why);
