// The reply functions: each answers one request JS holds, by id, with libfuse's fuse_reply_*
// (thread-safe: one write to /dev/fuse), at once, from the JS thread. Data goes from JS memory to
// the kernel during the call; nothing is kept.
//
// Rules every reply follows:
// - an id that is not held (answered already, never taken, or the session is over) is a no-op;
// - a reply of the wrong kind for the request, or a malformed argument, throws, and the request
//   is answered EIO (so no program waits forever on a bug);
// - nothing after the throw reached the kernel: a replyDirPlus that throws packed no entries.
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include <memory>
#include <string>
#include <vector>

#include "js.h"
#include "session.h"

namespace {

enum class Kind { Err, None, Entry, Create, Attr, Readlink, Open, Write, Data, Statfs, XattrSize, Lseek, DirPlus };

constexpr uint64_t Bit(Op op) { return 1ull << static_cast<unsigned>(op); }

// Requests whose only answer is an errno (0 = success).
constexpr uint64_t kErrOnly = Bit(Op::Unlink) | Bit(Op::Rmdir) | Bit(Op::Rename) | Bit(Op::Flush) | Bit(Op::Release) |
                              Bit(Op::Fsync) | Bit(Op::Releasedir) | Bit(Op::Fsyncdir) | Bit(Op::Setxattr) |
                              Bit(Op::Removexattr) | Bit(Op::Access) | Bit(Op::Fallocate);

bool Accepts(Kind kind, const Pending& p) {
  Op op = p.op;
  uint64_t b = Bit(op);
  switch (kind) {
    case Kind::Err:
      return true;
    case Kind::None:
      return op == Op::Forget;
    case Kind::Entry:
      return b & (Bit(Op::Lookup) | Bit(Op::Mknod) | Bit(Op::Mkdir) | Bit(Op::Symlink) | Bit(Op::Link));
    case Kind::Create:
      return op == Op::Create;
    case Kind::Attr:
      return op == Op::Getattr || op == Op::Setattr;
    case Kind::Readlink:
      return op == Op::Readlink;
    case Kind::Open:
      return op == Op::Open || op == Op::Opendir;
    case Kind::Write:
      return op == Op::Write;
    case Kind::Data:
      return op == Op::Read || ((op == Op::Getxattr || op == Op::Listxattr) && p.size > 0);
    case Kind::Statfs:
      return op == Op::Statfs;
    case Kind::XattrSize:
      return (op == Op::Getxattr || op == Op::Listxattr) && p.size == 0;
    case Kind::Lseek:
      return op == Op::Lseek;
    case Kind::DirPlus:
      return op == Op::Readdir || op == Op::Readdirplus;
  }
  return false;
}


// One reply call: its arguments, the session and the request.
struct Call {
  static constexpr size_t kMaxArgs = 19;  // replyCreate's, flattened (see load-addon.ts)
  napi_env env;
  Reader rd;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;
  Session* s = nullptr;
  uint64_t id = 0;
  Pending* p = nullptr;

  Call(napi_env e, const char* fn) : env(e), rd{e, fn, ""} {}

  // Reads the arguments, the session and the id; then finds the request for a reply of `kind`.
  // False when there is nothing to do: an exception is pending, or the id is not held (no-op).
  bool Begin(napi_callback_info info, size_t need, Kind kind) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc < need) {
      std::string message = std::string(rd.fn) + ": " + std::to_string(need) + " arguments";
      napi_throw_type_error(env, nullptr, message.c_str());
      return false;
    }
    for (size_t i = argc; i < kMaxArgs; i++) napi_get_undefined(env, &argv[i]);
    s = SessionFrom(env, argv[0]);
    if (!s || !rd.U64(argv[1], "id", &id)) return false;
    if (s->state != State::Mounted && s->state != State::Unmounting) return false;
    auto it = s->pending.find(id);
    if (it == s->pending.end()) return false;
    p = &it->second;
    if (!Accepts(kind, *p)) {
      std::string what = OpName(p->op);
      if (p->op == Op::Getxattr || p->op == Op::Listxattr) what += p->size ? " of a value" : " of the size only";
      std::string message = std::string(rd.fn) + " cannot answer request " + std::to_string(id) + " (" + what +
                            "); it was answered EIO";
      Fail();
      napi_throw_type_error(env, nullptr, message.c_str());
      return false;
    }
    return true;
  }

  // The request leaves the table; the caller answers it.
  fuse_req_t Take() {
    fuse_req_t req = p->req;
    s->pending.erase(id);
    p = nullptr;
    return req;
  }

  // After a malformed argument (its exception pending): answer EIO.
  napi_value Fail() {
    if (p) fuse_reply_err(Take(), EIO);
    return nullptr;
  }
};

// An Attr's fields as arguments, in this order (load-addon.ts passes them so: reading them from
// an object cost a property lookup each, ~2% of the engine's thread during `cp -a`).
constexpr size_t kAttrArgs = 11;

bool ReadAttrArgs(Reader& rd, const napi_value* v, struct stat* st) {
  memset(st, 0, sizeof(*st));
  uint64_t ino, nlink, rdev, size, blocks;
  uint32_t mode, uid, gid;
  if (!rd.U64(v[0], "ino", &ino) || !rd.U32(v[1], "mode", &mode) || !rd.U64(v[2], "nlink", &nlink) ||
      !rd.U32(v[3], "uid", &uid) || !rd.U32(v[4], "gid", &gid) || !rd.U64(v[5], "rdev", &rdev) ||
      !rd.U64(v[6], "size", &size) || !rd.U64(v[7], "blocks", &blocks) ||
      !rd.TimeNs(v[8], "atimeNs", &st->st_atim) || !rd.TimeNs(v[9], "mtimeNs", &st->st_mtim) ||
      !rd.TimeNs(v[10], "ctimeNs", &st->st_ctim)) {
    return false;
  }
  st->st_ino = ino;
  st->st_mode = mode;
  st->st_nlink = nlink;
  st->st_uid = uid;
  st->st_gid = gid;
  st->st_rdev = rdev;
  st->st_size = static_cast<off_t>(size);
  st->st_blocks = static_cast<blkcnt_t>(blocks);
  return true;
}

bool ReadTimeoutArg(Reader& rd, napi_value v, const char* field, double* out) {
  if (!rd.Double(v, field, out)) return false;
  if (!(*out >= 0)) return rd.Fail(field, "must be a number of seconds, 0 or more");
  return true;
}

// An Entry's fields as arguments: ino, generation, entryTimeoutS, attrTimeoutS, then its attr's.
constexpr size_t kEntryArgs = 4 + kAttrArgs;

bool ReadEntryArgs(Reader& rd, const napi_value* v, struct fuse_entry_param* e) {
  memset(e, 0, sizeof(*e));
  std::string outer = rd.prefix;
  uint64_t ino, generation;
  bool ok = rd.U64(v[0], "ino", &ino) && rd.U64(v[1], "generation", &generation) &&
            ReadTimeoutArg(rd, v[2], "entryTimeoutS", &e->entry_timeout) &&
            ReadTimeoutArg(rd, v[3], "attrTimeoutS", &e->attr_timeout);
  if (ok) {
    rd.prefix = outer + "attr.";
    ok = ReadAttrArgs(rd, v + 4, &e->attr);
  }
  rd.prefix = outer;
  e->ino = ino;
  e->generation = generation;
  return ok;
}

// An Entry object (each of replyDirPlus's entries), read as its fields would come as arguments.
bool ReadEntry(Reader& rd, napi_value entry, struct fuse_entry_param* e) {
  static const char* const keys[kEntryArgs] = {"ino",  "generation", "entryTimeoutS", "attrTimeoutS", "ino",
                                               "mode", "nlink",      "uid",           "gid",          "rdev",
                                               "size", "blocks",     "atimeNs",       "mtimeNs",      "ctimeNs"};
  napi_value v[kEntryArgs];
  napi_value attr;
  for (size_t i = 0; i < 4; i++) {
    if (!rd.Prop(entry, keys[i], &v[i])) return false;
  }
  if (!rd.Prop(entry, "attr", &attr)) return false;
  std::string outer = rd.prefix;
  rd.prefix = outer + "attr.";
  bool ok = true;
  for (size_t i = 4; ok && i < kEntryArgs; i++) ok = rd.Prop(attr, keys[i], &v[i]);
  rd.prefix = outer;
  return ok && ReadEntryArgs(rd, v, e);
}

// Optional booleans: a missing flags object or field is false.
bool ReadOpenFlags(Reader& rd, napi_value flags, struct fuse_file_info* fi) {
  napi_valuetype type;
  napi_typeof(rd.env, flags, &type);
  if (type == napi_undefined) return true;
  if (type != napi_object) return rd.Fail("flags", "must be an object");
  const char* keys[] = {"directIo", "keepCache", "nonSeekable", "cacheDir", "noFlush"};
  bool values[5] = {};
  for (int i = 0; i < 5; i++) {
    napi_value v;
    napi_valuetype t;
    if (!rd.Prop(flags, keys[i], &v)) return false;
    napi_typeof(rd.env, v, &t);
    if (t != napi_undefined && !rd.Bool(v, keys[i], &values[i])) return false;
  }
  fi->direct_io = values[0];
  fi->keep_cache = values[1];
  fi->nonseekable = values[2];
  fi->cache_readdir = values[3];
  fi->noflush = values[4];
  return true;
}

napi_value ReplyErr(napi_env env, napi_callback_info info) {
  Call c(env, "replyErr");
  if (!c.Begin(info, 3, Kind::Err)) return nullptr;
  uint32_t err;
  if (!c.rd.U32(c.argv[2], "errno", &err)) return c.Fail();
  if (err >= 4096) {
    c.rd.Fail("errno", "must be a positive errno (ENOENT is 2), or 0 for success");
    return c.Fail();
  }
  if (err == 0 && !(Bit(c.p->op) & kErrOnly)) {
    c.rd.Fail("errno", "0 (success) does not answer this request: it needs a reply with data");
    return c.Fail();
  }
  fuse_reply_err(c.Take(), static_cast<int>(err));
  return nullptr;
}

napi_value ReplyNone(napi_env env, napi_callback_info info) {
  Call c(env, "replyNone");
  // FORGET was ended when it arrived (no reply goes to the kernel) and is not held: a no-op,
  // unless the id names another request, which needs an answer.
  c.Begin(info, 2, Kind::None);
  return nullptr;
}

// replyEntry(session, id, ...entry as arguments)
napi_value ReplyEntry(napi_env env, napi_callback_info info) {
  Call c(env, "replyEntry");
  if (!c.Begin(info, 2 + kEntryArgs, Kind::Entry)) return nullptr;
  struct fuse_entry_param e;
  c.rd.prefix = "entry.";
  if (!ReadEntryArgs(c.rd, c.argv + 2, &e)) return c.Fail();
  fuse_reply_entry(c.Take(), &e);
  return nullptr;
}

// replyCreate(session, id, fh, flags, ...entry as arguments)
napi_value ReplyCreate(napi_env env, napi_callback_info info) {
  Call c(env, "replyCreate");
  if (!c.Begin(info, 4 + kEntryArgs, Kind::Create)) return nullptr;
  struct fuse_entry_param e;
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof(fi));
  c.rd.prefix = "entry.";
  if (!ReadEntryArgs(c.rd, c.argv + 4, &e)) return c.Fail();
  c.rd.prefix = "";
  if (!c.rd.U64(c.argv[2], "fh", &fi.fh)) return c.Fail();
  c.rd.prefix = "flags.";
  if (!ReadOpenFlags(c.rd, c.argv[3], &fi)) return c.Fail();
  fuse_reply_create(c.Take(), &e, &fi);
  return nullptr;
}

// replyAttr(session, id, attrTimeoutS, ...attr as arguments)
napi_value ReplyAttr(napi_env env, napi_callback_info info) {
  Call c(env, "replyAttr");
  if (!c.Begin(info, 3 + kAttrArgs, Kind::Attr)) return nullptr;
  struct stat st;
  double timeout;
  c.rd.prefix = "attr.";
  if (!ReadAttrArgs(c.rd, c.argv + 3, &st)) return c.Fail();
  c.rd.prefix = "";
  if (!ReadTimeoutArg(c.rd, c.argv[2], "attrTimeoutS", &timeout)) return c.Fail();
  fuse_reply_attr(c.Take(), &st, timeout);
  return nullptr;
}

napi_value ReplyReadlink(napi_env env, napi_callback_info info) {
  Call c(env, "replyReadlink");
  if (!c.Begin(info, 3, Kind::Readlink)) return nullptr;
  std::string target;
  if (!c.rd.Bytes(c.argv[2], "target", &target)) return c.Fail();
  if (target.empty() || target.find('\0') != std::string::npos) {
    c.rd.Fail("target", "must be a non-empty path without NUL");
    return c.Fail();
  }
  fuse_reply_readlink(c.Take(), target.c_str());
  return nullptr;
}

napi_value ReplyOpen(napi_env env, napi_callback_info info) {
  Call c(env, "replyOpen");
  if (!c.Begin(info, 3, Kind::Open)) return nullptr;
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof(fi));
  if (!c.rd.U64(c.argv[2], "fh", &fi.fh)) return c.Fail();
  c.rd.prefix = "flags.";
  if (!ReadOpenFlags(c.rd, c.argv[3], &fi)) return c.Fail();
  fuse_reply_open(c.Take(), &fi);
  return nullptr;
}

napi_value ReplyWrite(napi_env env, napi_callback_info info) {
  Call c(env, "replyWrite");
  if (!c.Begin(info, 3, Kind::Write)) return nullptr;
  uint64_t count;
  if (!c.rd.U64(c.argv[2], "count", &count)) return c.Fail();
  if (count > c.p->size) {
    napi_throw_range_error(env, nullptr, ("replyWrite: count " + std::to_string(count) + " is more than the " +
                                          std::to_string(c.p->size) + " bytes written; answered EIO")
                                             .c_str());
    return c.Fail();
  }
  fuse_reply_write(c.Take(), count);
  return nullptr;
}

napi_value ReplyData(napi_env env, napi_callback_info info) {
  Call c(env, "replyData");
  if (!c.Begin(info, 3, Kind::Data)) return nullptr;
  bool is_array = false;
  napi_is_array(env, c.argv[2], &is_array);
  if (!is_array) {
    c.rd.Fail("pieces", "must be an array of Uint8Arrays");
    return c.Fail();
  }
  uint32_t n;
  napi_get_array_length(env, c.argv[2], &n);
  std::vector<struct iovec> iov(n);
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value piece;
    napi_get_element(env, c.argv[2], i, &piece);
    bool typed = false;
    napi_is_typedarray(env, piece, &typed);
    napi_typedarray_type type = napi_int8_array;
    size_t length = 0;
    void* data = nullptr;
    if (typed) napi_get_typedarray_info(env, piece, &type, &length, &data, nullptr, nullptr);
    if (!typed || type != napi_uint8_array) {
      std::string field = "pieces[" + std::to_string(i) + "]";
      c.rd.Fail(field.c_str(), "must be a Uint8Array (a Buffer is one)");
      return c.Fail();
    }
    iov[i].iov_base = data;
    iov[i].iov_len = length;
    total += length;
  }
  if (total > c.p->size) {
    if (c.p->op != Op::Read) {
      fuse_reply_err(c.Take(), ERANGE);  // the value outgrew the buffer the caller sized
      return nullptr;
    }
    napi_throw_range_error(env, nullptr, ("replyData: " + std::to_string(total) + " bytes for a read of " +
                                          std::to_string(c.p->size) + "; answered EIO")
                                             .c_str());
    return c.Fail();
  }
  fuse_req_t req = c.Take();
  if (n + 1 <= IOV_MAX) {
    fuse_reply_iov(req, iov.data(), static_cast<int>(n));
  } else {  // more pieces than one writev takes: gather them
    std::unique_ptr<char[]> joined(new char[total > 0 ? total : 1]);
    size_t at = 0;
    for (const struct iovec& v : iov) {
      memcpy(joined.get() + at, v.iov_base, v.iov_len);
      at += v.iov_len;
    }
    fuse_reply_buf(req, joined.get(), total);
  }
  return nullptr;
}

napi_value ReplyStatfs(napi_env env, napi_callback_info info) {
  Call c(env, "replyStatfs");
  if (!c.Begin(info, 3, Kind::Statfs)) return nullptr;
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  uint64_t v[11];
  const char* keys[] = {"bsize", "frsize", "blocks", "bfree", "bavail", "files",
                        "ffree", "favail", "fsid",   "flag",  "namemax"};
  c.rd.prefix = "statfs.";
  for (int i = 0; i < 11; i++) {
    if (!c.rd.U64At(c.argv[2], keys[i], &v[i])) return c.Fail();
  }
  st.f_bsize = v[0];
  st.f_frsize = v[1];
  st.f_blocks = v[2];
  st.f_bfree = v[3];
  st.f_bavail = v[4];
  st.f_files = v[5];
  st.f_ffree = v[6];
  st.f_favail = v[7];
  st.f_fsid = v[8];
  st.f_flag = v[9];
  st.f_namemax = v[10];
  fuse_reply_statfs(c.Take(), &st);
  return nullptr;
}

napi_value ReplyXattrSize(napi_env env, napi_callback_info info) {
  Call c(env, "replyXattrSize");
  if (!c.Begin(info, 3, Kind::XattrSize)) return nullptr;
  uint64_t size;
  if (!c.rd.U64(c.argv[2], "size", &size)) return c.Fail();
  fuse_reply_xattr(c.Take(), size);
  return nullptr;
}

napi_value ReplyLseek(napi_env env, napi_callback_info info) {
  Call c(env, "replyLseek");
  if (!c.Begin(info, 3, Kind::Lseek)) return nullptr;
  uint64_t offset;
  if (!c.rd.U64(c.argv[2], "offset", &offset)) return c.Fail();
  fuse_reply_lseek(c.Take(), static_cast<off_t>(offset));
  return nullptr;
}

napi_value ReplyDirPlus(napi_env env, napi_callback_info info) {
  Call c(env, "replyDirPlus");
  napi_value zero;
  napi_create_uint32(env, 0, &zero);
  if (!c.Begin(info, 3, Kind::DirPlus)) return zero;
  bool is_array = false;
  napi_is_array(env, c.argv[2], &is_array);
  if (!is_array) {
    c.rd.Fail("entries", "must be an array");
    return c.Fail();
  }
  bool plus = c.p->op == Op::Readdirplus;
  fuse_req_t req = c.p->req;
  size_t size = c.p->size;
  std::unique_ptr<char[]> buf(new char[size > 0 ? size : 1]);
  size_t used = 0;
  uint32_t n, packed = 0;
  napi_get_array_length(env, c.argv[2], &n);
  std::string name;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, c.argv[2], i, &item);
    c.rd.prefix = "entries[" + std::to_string(i) + "].";
    uint64_t next_offset;
    napi_value entry;
    if (!c.rd.BytesAt(item, "name", &name)) return c.Fail();
    if (name.empty() || name.find('\0') != std::string::npos || name.find('/') != std::string::npos) {
      c.rd.Fail("name", "must be a non-empty name without '/' or NUL");
      return c.Fail();
    }
    // The space an entry takes depends on its name only: stop before reading what will not fit.
    size_t need = plus ? fuse_add_direntry_plus(req, nullptr, 0, name.c_str(), nullptr, 0)
                       : fuse_add_direntry(req, nullptr, 0, name.c_str(), nullptr, 0);
    if (used + need > size) break;
    struct fuse_entry_param e;
    if (!c.rd.U64At(item, "nextOffset", &next_offset) || !c.rd.Prop(item, "entry", &entry)) return c.Fail();
    c.rd.prefix += "entry.";
    if (!ReadEntry(c.rd, entry, &e)) return c.Fail();
    off_t off = static_cast<off_t>(next_offset);
    if (plus)
      fuse_add_direntry_plus(req, buf.get() + used, size - used, name.c_str(), &e, off);
    else
      fuse_add_direntry(req, buf.get() + used, size - used, name.c_str(), &e.attr, off);
    used += need;
    packed++;
  }
  // Entries the kernel did not take (its request is gone) are no lookups.
  if (fuse_reply_buf(c.Take(), buf.get(), used) < 0) packed = 0;
  napi_value result;
  napi_create_uint32(env, packed, &result);
  return result;
}

}  // namespace

void DefineReplies(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"replyErr", nullptr, ReplyErr, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyNone", nullptr, ReplyNone, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyEntry", nullptr, ReplyEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyCreate", nullptr, ReplyCreate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyAttr", nullptr, ReplyAttr, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyReadlink", nullptr, ReplyReadlink, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyOpen", nullptr, ReplyOpen, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyWrite", nullptr, ReplyWrite, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyData", nullptr, ReplyData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyStatfs", nullptr, ReplyStatfs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyXattrSize", nullptr, ReplyXattrSize, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyLseek", nullptr, ReplyLseek, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replyDirPlus", nullptr, ReplyDirPlus, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
