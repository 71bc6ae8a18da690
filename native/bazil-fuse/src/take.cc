// take(): every queued request becomes a JS object shaped as `Request` in addon.ts, and JS holds
// it (Session::pending) until it answers.
#include <fcntl.h>

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

// `arena`: Session::arena's ArrayBuffer, for a write whose bytes are in it.
napi_value ToJs(napi_env env, const Record& r, uint64_t id, napi_value op_name, napi_value arena) {
  Builder b(env);
  b.U64("id", id);
  b.Add("op", op_name);
  b.U32("uid", r.uid);
  b.U32("gid", r.gid);
  b.U32("pid", r.pid);
  b.U32("umask", r.umask);
  switch (r.op) {
    case Op::Lookup:
    case Op::Unlink:
    case Op::Rmdir:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      break;
    case Op::Forget:
      b.U64("ino", r.ino);
      b.U64("nlookup", r.size);
      break;
    case Op::Getattr:
      b.U64("ino", r.ino);
      if (r.has_fh)
        b.U64("fh", r.fh);
      else
        b.Null("fh");
      break;
    case Op::Setattr:
      b.U64("ino", r.ino);
      if (r.has_fh)
        b.U64("fh", r.fh);
      else
        b.Null("fh");
      b.Add("changes", Changes(env, r));
      break;
    case Op::Readlink:
    case Op::Statfs:
      b.U64("ino", r.ino);
      break;
    case Op::Mknod:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      b.U32("mode", r.mode);
      b.U64("rdev", r.rdev);
      break;
    case Op::Mkdir:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      b.U32("mode", r.mode);
      break;
    case Op::Symlink:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      b.Name("target", r.name2);
      break;
    case Op::Rename:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      b.U64("newParent", r.ino2);
      b.Name("newName", r.name2);
      b.U32("flags", static_cast<uint32_t>(r.flags));
      break;
    case Op::Link:
      b.U64("ino", r.ino);
      b.U64("newParent", r.ino2);
      b.Name("newName", r.name2);
      break;
    case Op::Open:
    case Op::Opendir:
      b.U64("ino", r.ino);
      b.I32("flags", r.flags);
      break;
    case Op::Read:
    case Op::Readdir:
    case Op::Readdirplus:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.U64("size", r.size);
      b.I64("offset", r.offset);
      break;
    case Op::Write:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.I64("offset", r.offset);
      if (r.arena_offset >= 0 && arena) {
        napi_value view;
        napi_create_typedarray(env, napi_uint8_array, r.data_len, arena, static_cast<size_t>(r.arena_offset), &view);
        b.Add("data", view);
      } else {
        b.Bytes("data", r.data.get(), r.data_len);
      }
      b.I32("flags", r.flags);
      break;
    case Op::Flush:
    case Op::Releasedir:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      break;
    case Op::Release:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.I32("flags", r.flags);
      break;
    case Op::Fsync:
    case Op::Fsyncdir:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.Bool("datasync", r.extra != 0);
      break;
    case Op::Setxattr:
      b.U64("ino", r.ino);
      b.Name("name", r.name);
      b.Bytes("value", r.data.get(), r.data_len);
      b.I32("flags", r.flags);
      break;
    case Op::Getxattr:
      b.U64("ino", r.ino);
      b.Name("name", r.name);
      b.U64("size", r.size);
      break;
    case Op::Listxattr:
      b.U64("ino", r.ino);
      b.U64("size", r.size);
      break;
    case Op::Removexattr:
      b.U64("ino", r.ino);
      b.Name("name", r.name);
      break;
    case Op::Access:
      b.U64("ino", r.ino);
      b.I32("mask", r.extra);
      break;
    case Op::Create:
      b.U64("parent", r.ino);
      b.Name("name", r.name);
      b.U32("mode", r.mode);
      b.I32("flags", r.flags);
      break;
    case Op::Lseek:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.I64("offset", r.offset);
      b.I32("whence", r.extra);
      break;
    case Op::Fallocate:
      b.U64("ino", r.ino);
      b.U64("fh", r.fh);
      b.I32("mode", r.flags);
      b.I64("offset", r.offset);
      b.U64("length", r.size);
      break;
    case Op::Count:
      break;
  }
  return b.Build();
}

}  // namespace

const char* OpName(Op op) { return kOpNames[static_cast<size_t>(op)]; }

napi_value Take(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Session* s = SessionCall(env, info, &argc, argv);
  if (!s) return nullptr;
  napi_value array;
  if (s->state != State::Mounted && s->state != State::Unmounting) {
    napi_create_array(env, &array);
    return array;
  }
  std::vector<Record> records;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    records.swap(s->queue);
  }
  napi_create_array_with_length(env, records.size(), &array);
  napi_value op_names[static_cast<size_t>(Op::Count)] = {};
  napi_value arena = nullptr;
  if (s->arena_ref) napi_get_reference_value(env, s->arena_ref, &arena);
  for (size_t i = 0; i < records.size(); i++) {
    Record& r = records[i];
    size_t op = static_cast<size_t>(r.op);
    if (!op_names[op]) napi_create_string_latin1(env, kOpNames[op], NAPI_AUTO_LENGTH, &op_names[op]);
    uint64_t id = s->next_id++;
    if (r.req) {
      uint32_t size = r.op == Op::Write ? static_cast<uint32_t>(r.data_len) : static_cast<uint32_t>(r.size);
      s->pending.emplace(id, Pending{r.req, r.op, size});
    }
    napi_set_element(env, array, static_cast<uint32_t>(i), ToJs(env, r, id, op_names[op], arena));
  }
  // Every write in the arena is now in a view JS holds until it returns to the event loop; the
  // next read of /dev/fuse (a later turn of the loop) writes over them.
  s->arena_used = 0;
  return array;
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
