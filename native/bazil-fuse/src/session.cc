// A session's life: mount (the mount thread, then serving on the JS thread), the wake-up of the
// JS thread, teardown, and
// unmount (its system call on a libuv pool thread, so the JS thread keeps answering the requests
// an unmount itself causes: the writeback cache's last writes, say).
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <map>

#include "js.h"
#include "mounter.h"

namespace {

struct LiveMount {
  std::string mountpoint;
  unsigned connection;
  bool by_fusermount;
};

// Never freed: atexit handlers may run after static destructors of this file.
std::mutex& LiveMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<const Session*, LiveMount>& Live() {
  static auto* live = new std::map<const Session*, LiveMount>;
  return *live;
}

void DetachLiveAtExit() {
  std::lock_guard<std::mutex> lock(LiveMutex());
  for (const auto& entry : Live()) {
    const LiveMount& m = entry.second;
    if (ConnectionMounted(m.connection)) UnmountFuse(m.mountpoint, m.connection, m.by_fusermount, true);
  }
  Live().clear();
}

// Room for the writes JS takes at once (Session::arena): eight of the largest (1 MiB) the kernel
// sends; more than that between two takes are copied as before.
constexpr size_t kArenaBytes = 8 * 1024 * 1024;

const napi_type_tag kSessionTag = {0x6261'7a69'6c2d'6675ull, 0x7365'2d73'6573'7369ull};

void Finalize(napi_env env, void* data, void* hint) {
  Session* s = static_cast<Session*>(data);
  s->Teardown(env);  // already done unless the environment is going away
  UnregisterLive(s);
  delete s;
}

// The tsfn's wake-up on the JS thread.
void CallJs(napi_env env, napi_value js_cb, void* context, void* data) {
  Session* s = static_cast<Session*>(context);
  if (env == nullptr || s->state == State::Ended || s->state == State::Closed) return;
  uint32_t events;
  bool have_requests;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    events = s->events;
    s->events = 0;
    s->wake_pending = false;
    have_requests = !s->queue.empty();
  }
  if ((events & kEventMounted) && s->mount_thread.joinable()) {
    s->mount_thread.join();
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) == napi_ok && loop) {
      StartServing(s, loop);
    } else {
      std::lock_guard<std::mutex> lock(s->mu);
      s->events |= kEventEnded;
      events |= kEventEnded;
    }
  }
  if (events & kEventMountFailed) {
    std::string code, error;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      code = s->mount_error_code;
      error = s->mount_error;
    }
    napi_reject_deferred(env, s->mount_deferred, MakeError(env, code.c_str(), error));
    s->mount_deferred = nullptr;
    s->Teardown(env);
    s->state = State::Closed;
    return;
  }
  if ((events & kEventInit) && s->state == State::Mounting) {
    Granted g;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      g = s->granted;
    }
    Builder granted(env);
    granted.U32("protocolMajor", g.proto_major);
    granted.U32("protocolMinor", g.proto_minor);
    granted.U32("maxWriteBytes", g.max_write);
    granted.U32("maxReadaheadBytes", g.max_readahead);
    granted.Bool("writebackCache", g.writeback_cache);
    granted.Bool("readdirplus", g.readdirplus);
    granted.Bool("parallelDirops", g.parallel_dirops);
    Builder result(env);
    result.Add("session", s->self(env));
    result.Add("granted", granted.Build());
    s->state = State::Mounted;
    napi_resolve_deferred(env, s->mount_deferred, result.Build());
    s->mount_deferred = nullptr;
  }
  if (events & kEventEnded) {
    if (s->mount_deferred) {
      napi_reject_deferred(env, s->mount_deferred,
                           MakeError(env, "EIO", "the kernel ended the connection before INIT was answered"));
      s->mount_deferred = nullptr;
    }
    // Mounted (not Unmounting): the kernel ended it by itself, an unmount from outside
    // (`fusermount3 -u`, `umount`). JS hears it as onRequests(true), once.
    bool from_outside = s->state == State::Mounted;
    s->Teardown(env);
    s->state = State::Ended;
    if (from_outside) {
      napi_value undefined, ended;
      napi_get_undefined(env, &undefined);
      napi_get_boolean(env, true, &ended);
      if (napi_call_function(env, undefined, js_cb, 1, &ended, nullptr) == napi_pending_exception) {
        napi_value error;
        napi_get_and_clear_last_exception(env, &error);
        napi_fatal_exception(env, error);
      }
    }
    if (!ConnectionMounted(s->connection)) UnregisterLive(s);  // else unmount() or exit clears it
    return;
  }
  if (!have_requests) return;
  if (events & kEventInit) {
    // JS learns its session when the mount's promise settles (after this call): ask for one
    // more wake-up, so onRequests runs only once code awaiting the mount has the session.
    bool call = false;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!s->wake_pending) call = s->wake_pending = true;
    }
    if (call) napi_call_threadsafe_function(s->tsfn, nullptr, napi_tsfn_nonblocking);
    return;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, js_cb, 0, nullptr, nullptr) == napi_pending_exception) {
    // An exception in onRequests is the process's uncaught exception (Node-API would otherwise
    // only warn about it, and it would be lost).
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

// The environment is going away (process exit, worker end) with the session still up: stop
// serving and detach the mount, so no dead mount stays behind.
void Cleanup(void* arg) {
  Session* s = static_cast<Session*>(arg);
  s->cleanup_hook_added = false;
  bool mounted = s->state == State::Mounting || s->state == State::Mounted || s->state == State::Unmounting;
  s->Teardown(s->env);
  if (mounted && !s->real_mountpoint.empty() && ConnectionMounted(s->connection)) {
    UnmountFuse(s->real_mountpoint, s->connection, s->by_fusermount, true);
  }
  s->state = State::Closed;
  UnregisterLive(s);
}

struct UnmountWork {
  Session* s;
  napi_ref ref;  // keeps the session alive while the pool thread works
  bool detach;
  bool dead_only;  // the loop had ended: only clear a dead mount left in the table
  napi_deferred deferred;
  napi_async_work work;
  UnmountResult result;
};

void UnmountExecute(napi_env env, void* data) {
  UnmountWork* w = static_cast<UnmountWork*>(data);
  Session* s = w->s;
  if (w->dead_only) {
    if (ConnectionMounted(s->connection)) w->result = UnmountFuse(s->real_mountpoint, s->connection, s->by_fusermount, true);
    return;
  }
  w->result = UnmountFuse(s->real_mountpoint, s->connection, s->by_fusermount, w->detach);
}

void UnmountComplete(napi_env env, napi_status status, void* data) {
  UnmountWork* w = static_cast<UnmountWork*>(data);
  Session* s = w->s;
  s->unmount_running = false;
  napi_value error = nullptr;
  if (s->state == State::Unmounting && !w->result.code.empty()) {
    s->state = State::Mounted;  // still mounted and served
    std::string message = w->result.error;
    if (w->result.code == "EBUSY" && message.empty()) {
      const std::string& m = s->mountpoint;
      message = m + " is busy: a program has a file or folder open in it, or works in it (`fuser -vm " + m +
                "` shows which); close it, or unmount with detach";
    }
    error = MakeError(env, w->result.code.c_str(), message);
  } else if (w->dead_only && !w->result.code.empty()) {
    s->state = State::Closed;
    error = MakeError(env, w->result.code.c_str(), w->result.error);
  } else {
    s->Teardown(env);
    s->state = State::Closed;
    UnregisterLive(s);
  }
  if (error) {
    napi_reject_deferred(env, w->deferred, error);
  } else {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, w->deferred, undefined);
  }
  napi_delete_async_work(env, w->work);
  napi_delete_reference(env, w->ref);
  delete w;
}

}  // namespace

void RegisterLive(Session* s) {
  static std::once_flag once;
  std::call_once(once, [] { atexit(DetachLiveAtExit); });
  std::lock_guard<std::mutex> lock(LiveMutex());
  Live()[s] = {s->real_mountpoint, s->connection, s->by_fusermount};
}

void UnregisterLive(Session* s) {
  std::lock_guard<std::mutex> lock(LiveMutex());
  Live().erase(s);
}

napi_value Session::self(napi_env env) const {
  napi_value v = nullptr;
  napi_get_reference_value(env, self_ref, &v);
  return v;
}

void Session::Enqueue(Record&& record) {
  fuse_req_t req = record.req;
  bool queued = false, wake = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!closing) {
      queue.push_back(std::move(record));
      queued = true;
      if (!wake_pending) wake = wake_pending = true;
    }
  }
  if (wake) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
  if (!queued && req) fuse_reply_err(req, EIO);
}

void Session::Post(uint32_t event) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    events |= event;
    if (!wake_pending) wake = wake_pending = true;
  }
  if (wake) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
}

void Session::Teardown(napi_env env) {
  if (tsfn == nullptr && se == nullptr) return;  // done already
  // 1. Nothing more for JS: what is queued or held is answered EIO, and from now on new requests
  //    are answered EIO as they are read (reads go on in step 2 while a notification that waits on
  //    a request's page lock finishes).
  std::vector<Record> left;
  {
    std::lock_guard<std::mutex> lock(mu);
    closing = true;
    left.swap(queue);
  }
  for (Record& r : left) {
    if (r.req) fuse_reply_err(r.req, EIO);
  }
  for (auto& entry : pending) fuse_reply_err(entry.second.req, EIO);
  pending.clear();
  // 2. The notify thread, and serving: no more reads once it is done.
  StopNotifier(this);
  // 3. A mount still being made (the environment is going away meanwhile).
  if (mount_thread.joinable()) mount_thread.join();
  // 4. Closing /dev/fuse ends the connection if the kernel still has it (a detached mount that
  //    a program still uses): its requests fail with ENOTCONN from then on.
  if (se) {
    fuse_session_exit(se);
    fuse_session_destroy(se);
    se = nullptr;
  }
  free(buf.mem);
  buf.mem = nullptr;
  if (env) {
    if (cleanup_hook_added) napi_remove_env_cleanup_hook(env, Cleanup, this);
    cleanup_hook_added = false;
    if (tsfn) napi_release_threadsafe_function(tsfn, napi_tsfn_release);
    if (self_ref) napi_delete_reference(env, self_ref);
    if (arena_ref) napi_delete_reference(env, arena_ref);
  }
  tsfn = nullptr;
  self_ref = nullptr;
  arena_ref = nullptr;
  arena = nullptr;
  arena_size = arena_used = 0;
}

Session* SessionFrom(napi_env env, napi_value value) {
  bool tagged = false;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) == napi_ok && type == napi_object) {
    napi_check_object_type_tag(env, value, &kSessionTag, &tagged);
  }
  void* data = nullptr;
  if (!tagged || napi_unwrap(env, value, &data) != napi_ok || !data) {
    napi_throw_type_error(env, nullptr, "the first argument must be a session (from mount)");
    return nullptr;
  }
  return static_cast<Session*>(data);
}

napi_value Mount(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader rd{env, "mount", ""};
  MountOptions o;
  std::string mountpoint;
  napi_value opts = argv[1];
  if (argc < 3) {
    napi_throw_type_error(env, nullptr, "mount(mountpoint, options, onRequests): three arguments");
    return nullptr;
  }
  if (!rd.Bytes(argv[0], "mountpoint", &mountpoint)) return nullptr;
  if (mountpoint.empty() || mountpoint.find('\0') != std::string::npos) {
    rd.Fail("mountpoint", "must be a path without NUL");
    return nullptr;
  }
  rd.prefix = "options.";
  if (!rd.BytesAt(opts, "fsName", &o.fsname) || !rd.BytesAt(opts, "subtype", &o.subtype) ||
      !rd.BoolAt(opts, "allowOther", &o.allow_other) || !rd.BoolAt(opts, "defaultPermissions", &o.default_permissions) ||
      !rd.BoolAt(opts, "writebackCache", &o.writeback_cache) || !rd.BoolAt(opts, "readdirplus", &o.readdirplus) ||
      !rd.BoolAt(opts, "parallelDirops", &o.parallel_dirops) || !rd.U32At(opts, "maxWriteBytes", &o.max_write) ||
      !rd.U32At(opts, "maxReadaheadBytes", &o.max_readahead)) {
    return nullptr;
  }
  for (const std::string* field : {&o.fsname, &o.subtype}) {
    if (field->find('\0') != std::string::npos) {
      rd.Fail(field == &o.fsname ? "fsName" : "subtype", "must not hold NUL");
      return nullptr;
    }
  }
  if (o.subtype.find_first_of(",/ ") != std::string::npos) {
    rd.Fail("subtype", "must not hold ',', '/' or spaces");
    return nullptr;
  }
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) {
    napi_throw_type_error(env, nullptr, "mount: onRequests must be a function");
    return nullptr;
  }

  Session* s = new Session;
  s->env = env;
  s->options = o;
  s->mountpoint = mountpoint;
  const char* debug = getenv("BAZIL_FUSE_DEBUG");
  const char* args_list[] = {"bazil-fuse", "-d"};
  struct fuse_args args = FUSE_ARGS_INIT(debug && *debug ? 2 : 1, const_cast<char**>(args_list));
  s->se = fuse_session_new(&args, FuseOps(), sizeof(struct fuse_lowlevel_ops), s);
  fuse_opt_free_args(&args);
  if (s->se == nullptr) {
    delete s;
    ThrowError(env, "EIO", "libfuse could not start a session");
    return nullptr;
  }

  napi_value promise, handle, name;
  napi_create_promise(env, &s->mount_deferred, &promise);
  napi_create_object(env, &handle);
  napi_wrap(env, handle, s, Finalize, nullptr, nullptr);
  napi_type_tag_object(env, handle, &kSessionTag);
  napi_create_reference(env, handle, 1, &s->self_ref);
  napi_value arena;
  void* arena_data = nullptr;
  if (napi_create_arraybuffer(env, kArenaBytes, &arena_data, &arena) == napi_ok) {
    napi_create_reference(env, arena, 1, &s->arena_ref);
    s->arena = static_cast<char*>(arena_data);
    s->arena_size = kArenaBytes;
  }
  napi_create_string_utf8(env, "bazil-fuse", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, argv[2], nullptr, name, 0, 1, nullptr, nullptr, s, CallJs, &s->tsfn);
  // After the tsfn: cleanup hooks run last-added first, so this one stops the threads before
  // Node tears the tsfn down.
  napi_add_env_cleanup_hook(env, Cleanup, s);
  s->cleanup_hook_added = true;
  s->mount_thread = std::thread(MountThread, s);
  return promise;
}

Session* SessionCall(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_get_cb_info(env, info, argc, argv, nullptr, nullptr);
  return *argc >= 1 ? SessionFrom(env, argv[0]) : SessionFrom(env, nullptr);
}

napi_value Unmount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Session* s = SessionCall(env, info, &argc, argv);
  if (!s) return nullptr;
  bool detach = false;
  Reader rd{env, "unmount", ""};
  if (argc < 2 || !rd.Bool(argv[1], "detach", &detach)) return nullptr;
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  if (s->state == State::Closed) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    return promise;
  }
  if (s->state == State::Mounting || s->unmount_running) {
    const char* why = s->unmount_running ? "an unmount of this session is already running"
                                         : "the mount has not finished yet";
    napi_reject_deferred(env, deferred, MakeError(env, "EBUSY", why));
    return promise;
  }
  UnmountWork* w = new UnmountWork{s, nullptr, detach, s->state == State::Ended, deferred, nullptr, {}};
  if (s->state == State::Mounted) s->state = State::Unmounting;
  s->unmount_running = true;
  napi_create_reference(env, argv[0], 1, &w->ref);
  napi_value name;
  napi_create_string_utf8(env, "bazil-fuse-unmount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, UnmountExecute, UnmountComplete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}
