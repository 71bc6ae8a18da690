// Calls on ordinary files that Node's fs lacks, for exporting a snapshot to a directory outside
// Bazil (src-main/engine/snapshots/export-snapshot.ts): times to the nanosecond, extended
// attributes, and device nodes and FIFOs. Each throws an Error whose code is the errno's name.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "js.h"
#include "session.h"

namespace {

void ThrowErrno(napi_env env, const char* call, const std::string& path, int err) {
  const char* name = strerrorname_np(err);
  ThrowError(env, name ? name : "EIO", std::string(call) + " " + path + ": " + strerror(err));
}

// setTimesNs(path, atimeNs: bigint, mtimeNs: bigint): of the path itself, a symlink too.
napi_value SetTimesNs(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader r{env, "setTimesNs", ""};
  std::string path;
  struct timespec times[2];
  if (!r.Bytes(argv[0], "path", &path) || !r.TimeNs(argv[1], "atimeNs", &times[0]) ||
      !r.TimeNs(argv[2], "mtimeNs", &times[1])) {
    return nullptr;
  }
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) ThrowErrno(env, "utimensat", path, errno);
  return nullptr;
}

// setXattr(path, name, value: Uint8Array): of the path itself (lsetxattr).
napi_value SetXattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader r{env, "setXattr", ""};
  std::string path, name;
  if (!r.Bytes(argv[0], "path", &path) || !r.Bytes(argv[1], "name", &name)) return nullptr;
  bool typed = false;
  napi_is_typedarray(env, argv[2], &typed);
  if (!typed) {
    r.Fail("value", "must be a Uint8Array");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, argv[2], &type, &length, &data, nullptr, nullptr);
  if (type != napi_uint8_array) {
    r.Fail("value", "must be a Uint8Array");
    return nullptr;
  }
  if (lsetxattr(path.c_str(), name.c_str(), data, length, 0) != 0) ThrowErrno(env, "lsetxattr", path, errno);
  return nullptr;
}

// makeNode(path, mode, rdev): a FIFO, socket or device node (mknod), with the mode's type bits.
napi_value MakeNode(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader r{env, "makeNode", ""};
  std::string path;
  uint32_t mode;
  uint64_t rdev;
  if (!r.Bytes(argv[0], "path", &path) || !r.U32(argv[1], "mode", &mode) || !r.U64(argv[2], "rdev", &rdev)) {
    return nullptr;
  }
  if (mknod(path.c_str(), mode, static_cast<dev_t>(rdev)) != 0) ThrowErrno(env, "mknod", path, errno);
  return nullptr;
}

}  // namespace

void DefineFileCalls(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setTimesNs", nullptr, SetTimesNs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setXattr", nullptr, SetXattr, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"makeNode", nullptr, MakeNode, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
