// takeRaw(): the queued requests as numbers in a Float64Array JS owns and a list of their names
// and bytes, which load-addon.ts turns into the `Request` objects of addon.ts (JS makes objects
// of one shape far faster than napi_define_properties does); JS holds each request
// (Session::pending) until it answers.
#include <fcntl.h>

#include <cmath>

#include "js.h"
#include "names.h"
#include "session.h"

namespace {

const char* const kOpNames[] = {
    "lookup", "forget",  "getattr",     "setattr",    "readlink",  "mknod",    "mkdir",    "unlink",
    "rmdir",  "symlink", "rename",      "link",       "open",      "read",     "write",    "flush",
    "release", "fsync",  "opendir",     "readdir",    "readdirplus", "releasedir", "fsyncdir", "statfs",
    "setxattr", "getxattr", "listxattr", "removexattr", "access",  "create",   "lseek",    "fallocate",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(Op::Count), "one name per Op");

napi_value Changes(napi_env env, const Record& r) {
  Builder b(env);
  int set = r.to_set;
  if (set & FUSE_SET_ATTR_MODE) b.U32("mode", r.attr.st_mode);
  if (set & FUSE_SET_ATTR_UID) b.U32("uid", r.attr.st_uid);
  if (set & FUSE_SET_ATTR_GID) b.U32("gid", r.attr.st_gid);
  if (set & FUSE_SET_ATTR_SIZE) b.U64("size", static_cast<uint64_t>(r.attr.st_size));
  napi_value now;
  napi_create_string_latin1(env, "now", 3, &now);
  if (set & FUSE_SET_ATTR_ATIME_NOW)
    b.Add("atimeNs", now);
  else if (set & FUSE_SET_ATTR_ATIME)
    b.Ns("atimeNs", r.attr.st_atim);
  if (set & FUSE_SET_ATTR_MTIME_NOW)
    b.Add("mtimeNs", now);
  else if (set & FUSE_SET_ATTR_MTIME)
    b.Ns("mtimeNs", r.attr.st_mtim);
  if (set & FUSE_SET_ATTR_CTIME) b.Ns("ctimeNs", r.attr.st_ctim);
  return b.Build();
}

// Writes one request into `out` (kTakeStride numbers: op, id, uid, gid, pid, umask, then the op's
// own fields as addon.ts's decoder reads them) and appends its strings and bytes to `extras`.
// `arena`: Session::arena's ArrayBuffer, for a write whose bytes are in it.
void Put(napi_env env, const Record& r, uint64_t id, double* out, napi_value extras, uint32_t* n_extras,
         napi_value arena) {
  auto extra = [&](napi_value v) { napi_set_element(env, extras, (*n_extras)++, v); };
  auto name = [&](const std::string& bytes) {
    napi_value value;
    NameToJs(env, bytes.data(), bytes.size(), &value);
    extra(value);
  };
  auto bytes = [&](const char* data, size_t len) {
    napi_value buffer;
    void* copy = nullptr;
    napi_create_buffer_copy(env, len, data, &copy, &buffer);
    extra(buffer);
  };
  for (size_t i = 0; i < kTakeStride; i++) out[i] = 0;
  out[0] = static_cast<double>(r.op);
  out[1] = static_cast<double>(id);
  out[2] = r.uid;
  out[3] = r.gid;
  out[4] = r.pid;
  out[5] = r.umask;
  double* f = out + 6;
  const double fh_or_null = r.has_fh ? U64Number(r.fh) : NAN;
  switch (r.op) {
    case Op::Lookup:
    case Op::Unlink:
    case Op::Rmdir:
      f[0] = U64Number(r.ino);
      name(r.name);
      break;
    case Op::Forget:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.size);
      break;
    case Op::Getattr:
      f[0] = U64Number(r.ino);
      f[1] = fh_or_null;
      break;
    case Op::Setattr:
      f[0] = U64Number(r.ino);
      f[1] = fh_or_null;
      extra(Changes(env, r));
      break;
    case Op::Readlink:
    case Op::Statfs:
      f[0] = U64Number(r.ino);
      break;
    case Op::Mknod:
      f[0] = U64Number(r.ino);
      f[1] = r.mode;
      f[2] = U64Number(r.rdev);
      name(r.name);
      break;
    case Op::Mkdir:
      f[0] = U64Number(r.ino);
      f[1] = r.mode;
      name(r.name);
      break;
    case Op::Symlink:
      f[0] = U64Number(r.ino);
      name(r.name);
      name(r.name2);
      break;
    case Op::Rename:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.ino2);
      f[2] = r.flags;
      name(r.name);
      name(r.name2);
      break;
    case Op::Link:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.ino2);
      name(r.name2);
      break;
    case Op::Open:
    case Op::Opendir:
      f[0] = U64Number(r.ino);
      f[1] = r.flags;
      break;
    case Op::Read:
    case Op::Readdir:
    case Op::Readdirplus:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = U64Number(r.size);
      f[3] = I64Number(r.offset);
      break;
    case Op::Write:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = I64Number(r.offset);
      f[3] = r.flags;
      if (r.arena_offset >= 0 && arena) {
        napi_value view;
        napi_create_typedarray(env, napi_uint8_array, r.data_len, arena, static_cast<size_t>(r.arena_offset), &view);
        extra(view);
      } else {
        bytes(r.data.get(), r.data_len);
      }
      break;
    case Op::Flush:
    case Op::Releasedir:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      break;
    case Op::Release:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = r.flags;
      break;
    case Op::Fsync:
    case Op::Fsyncdir:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = r.extra != 0 ? 1 : 0;
      break;
    case Op::Setxattr:
      f[0] = U64Number(r.ino);
      f[1] = r.flags;
      name(r.name);
      bytes(r.data.get(), r.data_len);
      break;
    case Op::Getxattr:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.size);
      name(r.name);
      break;
    case Op::Listxattr:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.size);
      break;
    case Op::Removexattr:
      f[0] = U64Number(r.ino);
      name(r.name);
      break;
    case Op::Access:
      f[0] = U64Number(r.ino);
      f[1] = r.extra;
      break;
    case Op::Create:
      f[0] = U64Number(r.ino);
      f[1] = r.mode;
      f[2] = r.flags;
      name(r.name);
      break;
    case Op::Lseek:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = I64Number(r.offset);
      f[3] = r.extra;
      break;
    case Op::Fallocate:
      f[0] = U64Number(r.ino);
      f[1] = U64Number(r.fh);
      f[2] = r.flags;
      f[3] = I64Number(r.offset);
      f[4] = U64Number(r.size);
      break;
    case Op::Count:
      break;
  }
}

}  // namespace

const char* OpName(Op op) { return kOpNames[static_cast<size_t>(op)]; }

napi_value TakeRaw(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Session* s = SessionCall(env, info, &argc, argv);
  if (!s) return nullptr;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (argc < 2 || napi_get_typedarray_info(env, argv[1], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || length < kTakeHeader + kTakeStride) {
    napi_throw_type_error(env, nullptr, "takeRaw: numbers must be a Float64Array with room for one request");
    return nullptr;
  }
  double* out = static_cast<double*>(data);
  out[0] = 0;
  out[1] = 0;
  napi_value extras;
  napi_create_array(env, &extras);
  if (s->state != State::Mounted && s->state != State::Unmounting) return extras;
  const size_t room = (length - kTakeHeader) / kTakeStride;
  std::vector<Record> records;
  bool more = false;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->queue.size() <= room) {
      records.swap(s->queue);
    } else {
      records.assign(std::make_move_iterator(s->queue.begin()), std::make_move_iterator(s->queue.begin() + room));
      s->queue.erase(s->queue.begin(), s->queue.begin() + room);
      more = true;
    }
  }
  napi_value arena = nullptr;
  if (s->arena_ref) napi_get_reference_value(env, s->arena_ref, &arena);
  uint32_t n_extras = 0;
  for (size_t i = 0; i < records.size(); i++) {
    Record& r = records[i];
    uint64_t id = s->next_id++;
    if (r.req) {
      uint32_t size = r.op == Op::Write ? static_cast<uint32_t>(r.data_len) : static_cast<uint32_t>(r.size);
      s->pending.emplace(id, Pending{r.req, r.op, size});
    }
    Put(env, r, id, out + kTakeHeader + i * kTakeStride, extras, &n_extras, arena);
  }
  out[0] = static_cast<double>(records.size());
  out[1] = more ? 1 : 0;
  // Once the queue is empty, every write in the arena is in a view JS holds until it returns to
  // the event loop; the next read of /dev/fuse (a later turn of the loop) writes over them.
  if (!more) s->arena_used = 0;
  return extras;
}

napi_value AwaitRequestsJs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Session* s = SessionCall(env, info, &argc, argv);
  if (!s) return nullptr;
  Reader rd{env, "awaitRequests", ""};
  uint32_t max_us = 0;
  if (argc < 2 || !rd.U32(argv[1], "maxMicros", &max_us)) return nullptr;
  if (max_us > 10000) {
    rd.Fail("maxMicros", "must be at most 10000");
    return nullptr;
  }
  napi_value result;
  napi_get_boolean(env, AwaitRequests(s, max_us), &result);
  return result;
}
