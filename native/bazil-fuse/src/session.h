// One mounted file system: the libfuse session and its threads, the queue of requests waiting for
// JS, the table of requests JS holds, and the notifications waiting for the notify thread.
//
// Threads (README.md says why):
// - the mount thread mounts (mount(2), or fusermount3 for a normal user), then ends;
// - the JS thread reads requests from /dev/fuse when libuv sees it readable (ServeReadable);
//   libfuse calls the op callbacks (fuse-ops.cc) there, which copy each request into a Record
//   and queue it; then it takes the queue (take.cc), answers requests (replies.cc), and tears down;
// - the notify thread sends invalidations (notifier.cc);
// - unmount's system call runs on a libuv pool thread (session.cc).
#pragma once

#include <fuse_lowlevel.h>
#include <node_api.h>
#include <sys/stat.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// The request kinds, in the order of kOpNames (take.cc) and of the reply table (replies.cc).
enum class Op : uint8_t {
  Lookup,
  Forget,
  Getattr,
  Setattr,
  Readlink,
  Mknod,
  Mkdir,
  Unlink,
  Rmdir,
  Symlink,
  Rename,
  Link,
  Open,
  Read,
  Write,
  Flush,
  Release,
  Fsync,
  Opendir,
  Readdir,
  Readdirplus,
  Releasedir,
  Fsyncdir,
  Statfs,
  Setxattr,
  Getxattr,
  Listxattr,
  Removexattr,
  Access,
  Create,
  Lseek,
  Fallocate,
  Count,
};

// A request as ServeReadable copied it: everything JS needs, owned here (libfuse's buffer is
// reused for the next request as soon as the callback returns).
struct Record {
  fuse_req_t req = nullptr;  // null for FORGET: it is ended at once (no reply goes to the kernel)
  Op op = Op::Lookup;
  uint32_t uid = 0, gid = 0, pid = 0, umask = 0;
  uint64_t ino = 0;       // ino, or the parent for name operations
  uint64_t ino2 = 0;      // newParent (rename, link)
  uint64_t fh = 0;        // file handle
  bool has_fh = false;    // getattr/setattr: whether the kernel named a handle
  uint64_t size = 0;      // read/readdir/xattr size, forget's nlookup, fallocate's length
  int64_t offset = 0;     // read/write/readdir/lseek/fallocate offset
  int32_t flags = 0;      // open flags, rename flags, xattr flags, fallocate mode
  uint32_t mode = 0;      // mknod/mkdir/create mode
  uint64_t rdev = 0;      // mknod
  int32_t extra = 0;      // fsync datasync, lseek whence, access mask
  std::string name;       // name, or the xattr name
  std::string name2;      // newName, or a symlink's target
  std::unique_ptr<char[]> data;  // a setxattr value, a write's bytes when not in the arena
  size_t data_len = 0;
  int64_t arena_offset = -1;     // a write's bytes in Session::arena from here (when >= 0)
  // setattr: which fields (FUSE_SET_ATTR_*) and their values
  int to_set = 0;
  struct stat attr {};
};

// A request JS holds (taken, not yet answered): what a reply needs to check and answer it.
struct Pending {
  fuse_req_t req;
  Op op;
  uint32_t size;  // read/readdir size, xattr size, a write's length
};

struct Notification {
  enum Kind { InvalInode, InvalEntry, Delete } kind;
  uint64_t parent_or_ino;
  uint64_t child;
  int64_t offset;
  int64_t length;
  std::string name;
};

struct MountOptions {
  std::string fsname;
  std::string subtype;
  bool allow_other = false;
  bool default_permissions = false;
  bool writeback_cache = false;
  bool readdirplus = false;
  bool parallel_dirops = false;
  uint32_t max_write = 0;
  uint32_t max_readahead = 0;
};

struct Granted {
  unsigned proto_major = 0, proto_minor = 0;
  unsigned max_write = 0, max_readahead = 0;
  bool writeback_cache = false, readdirplus = false, parallel_dirops = false;
};

// Events posted to the JS thread (with the wake-up that also announces requests).
enum : uint32_t {
  kEventInit = 1,         // INIT is answered: resolve the mount
  kEventMountFailed = 2,  // the mount failed: reject it
  kEventEnded = 4,        // the kernel side went away (unmounted from outside, or aborted)
  kEventMounted = 8,      // the mount thread mounted: serve /dev/fuse
};

// The JS-visible life of a session (JS thread only).
enum class State { Mounting, Mounted, Unmounting, Ended, Closed };

struct Session {
  napi_env env = nullptr;
  napi_ref self_ref = nullptr;  // strong while mounted: the session outlives a dropped JS handle
  napi_value self(napi_env env) const;
  napi_threadsafe_function tsfn = nullptr;
  napi_deferred mount_deferred = nullptr;
  bool cleanup_hook_added = false;

  MountOptions options;
  std::string mountpoint;      // as given (bytes)
  std::string real_mountpoint; // canonical, as the mount table shows it
  bool by_fusermount = false;  // a normal user's mount: unmount through fusermount3 too
  unsigned connection = 0;     // the mount's device minor: /sys/fs/fuse/connections/N

  struct fuse_session* se = nullptr;
  std::thread mount_thread;

  // Shared by the mount thread, the notify thread and the JS thread.
  std::mutex mu;
  std::vector<Record> queue;
  bool wake_pending = false;
  uint32_t events = 0;
  std::string mount_error;
  std::string mount_error_code;
  Granted granted;
  bool init_seen = false;  // set by libfuse's init callback, before the INIT reply is sent
  bool closing = false;    // set by teardown: new requests are answered EIO at once

  // JS thread only.
  State state = State::Mounting;
  uv_poll_t* poll = nullptr;  // libuv's watch on /dev/fuse while serving (freed when closed)
  struct fuse_buf buf {};     // libfuse's receive buffer, reused
  // Writes' bytes land here, memory JS owns (an ArrayBuffer): take() lends JS views of it, valid
  // until JS returns to the event loop, and starts it over; requests read while it is full take
  // their own copy. One copy into memory that is reused replaces two into new memory each time
  // (a Record's, then a Buffer's), and the page faults and garbage collection that came with them.
  napi_ref arena_ref = nullptr;
  char* arena = nullptr;
  size_t arena_size = 0;
  size_t arena_used = 0;
  bool init_posted = false;
  std::unordered_map<uint64_t, Pending> pending;
  uint64_t next_id = 1;
  bool unmount_running = false;

  // Notifications: the JS thread queues, the notify thread sends.
  std::mutex nmu;
  std::condition_variable ncv;
  std::deque<Notification> nq;
  bool nstop = false;
  std::atomic<bool> notify_done{false};  // the notify thread has returned
  std::thread notify_thread;

  // Queue a request for JS (or answer it EIO when closing) and wake the JS thread.
  void Enqueue(Record&& record);
  // Post an event to the JS thread (from any thread).
  void Post(uint32_t event);
  // JS thread: answer everything EIO, stop serving and join the threads, close /dev/fuse (which
  // aborts a connection a detached mount still had), release the wake-up. Idempotent.
  void Teardown(napi_env env);
};

// session.cc
napi_value Mount(napi_env env, napi_callback_info info);
// The mounts of this process: a process that exits (process.exit, an uncaught exception) with a
// mount up detaches it on its way out, instead of leaving a dead mount. Thread-safe.
void RegisterLive(Session* s);
void UnregisterLive(Session* s);
napi_value Unmount(napi_env env, napi_callback_info info);
// Returns the session named by a JS value, or null with a TypeError thrown.
Session* SessionFrom(napi_env env, napi_value value);
// Reads a call's arguments (up to *argc into argv; *argc becomes how many came) and returns the
// session its first names, or null with a TypeError thrown.
Session* SessionCall(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv);

// fuse-ops.cc
const struct fuse_lowlevel_ops* FuseOps();
void MountThread(Session* s);
// JS thread: starts reading /dev/fuse as libuv sees it readable.
void StartServing(Session* s, uv_loop_t* loop);
// JS thread, JS having answered every request it took: reads /dev/fuse for up to `max_us`
// without sleeping, until a request comes (true: JS takes it at once) or the time is up.
bool AwaitRequests(Session* s, uint32_t max_us);
// JS thread: stops reading; then, until `done` says so, reads what comes and answers it EIO
// (teardown: the notify thread may wait on a page lock held by a request still unread).
void StopServing(Session* s, std::atomic<bool>* done);

// take.cc: takeRaw's layout, which load-addon.ts reads. The numbers start with a header (how many
// requests; 1 when more are queued than fit), then kTakeStride numbers per request.
constexpr size_t kTakeHeader = 2;
constexpr size_t kTakeStride = 12;
napi_value TakeRaw(napi_env env, napi_callback_info info);
napi_value AwaitRequestsJs(napi_env env, napi_callback_info info);
const char* OpName(Op op);  // as addon.ts names it: "lookup"

// replies.cc
void DefineReplies(napi_env env, napi_value exports);

// notifier.cc
void DefineNotifications(napi_env env, napi_value exports);
void DefineFileCalls(napi_env env, napi_value exports);
// Stops the notify thread; reads and refuses requests while it finishes (see StopServing).
void StopNotifier(Session* s);
