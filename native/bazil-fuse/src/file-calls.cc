// Calls on ordinary files that Node's fs lacks: for exporting a snapshot to a directory outside
// Bazil (src-main/engine/snapshots/export-snapshot.ts), times to the nanosecond, extended
// attributes, and device nodes and FIFOs; for garbage collection on a full disk
// (src-main/engine/store/sweep.ts), holes punched in packs. Each throws an Error whose code is the
// errno's name.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>
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

// An argument that must be a typed array of `want`: its data and element count, or false (and a
// TypeError naming `field`, saying `what` it must be).
bool TypedArrayArg(napi_env env, Reader& r, napi_value v, const char* field, napi_typedarray_type want,
                   const char* what, void** data, size_t* length) {
  bool typed = false;
  napi_is_typedarray(env, v, &typed);
  napi_typedarray_type type = want == napi_uint8_array ? napi_int8_array : napi_uint8_array;
  if (typed) napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr);
  if (!typed || type != want) {
    r.Fail(field, what);
    return false;
  }
  return true;
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
  size_t length = 0;
  void* data = nullptr;
  if (!TypedArrayArg(env, r, argv[2], "value", napi_uint8_array, "must be a Uint8Array", &data, &length)) {
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

// punchHoles(path, ranges: Float64Array of offset, length pairs): gives the disk blocks of those
// ranges of a file back (they read as zeros after), its size unchanged: fallocate's PUNCH_HOLE.
napi_value PunchHoles(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader r{env, "punchHoles", ""};
  std::string path;
  if (!r.Bytes(argv[0], "path", &path)) return nullptr;
  size_t length = 0;
  void* data = nullptr;
  const char* what = "must be a Float64Array of offset, length pairs";
  if (!TypedArrayArg(env, r, argv[1], "ranges", napi_float64_array, what, &data, &length)) return nullptr;
  if (length % 2 != 0) {
    r.Fail("ranges", what);
    return nullptr;
  }
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open", path, errno);
    return nullptr;
  }
  const double* ranges = static_cast<const double*>(data);
  for (size_t i = 0; i < length; i += 2) {
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(ranges[i]),
                  static_cast<off_t>(ranges[i + 1])) != 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, "fallocate", path, err);
      return nullptr;
    }
  }
  close(fd);
  return nullptr;
}

}  // namespace

void DefineFileCalls(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setTimesNs", nullptr, SetTimesNs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setXattr", nullptr, SetXattr, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"makeNode", nullptr, MakeNode, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"punchHoles", nullptr, PunchHoles, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
