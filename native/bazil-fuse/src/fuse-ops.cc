// The mount thread, and serving: the JS thread reads requests from /dev/fuse whenever libuv sees
// it readable. libfuse calls the op callbacks below there; each copies what JS needs into a Record
// and queues it (Session::Enqueue), and JS takes the queue once the read is over. Nothing waits
// for JS to answer: a request JS holds (a slow flush) holds up no other.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fstream>

#include "mounter.h"
#include "session.h"

namespace {

Session* S(fuse_req_t req) { return static_cast<Session*>(fuse_req_userdata(req)); }

Record Base(fuse_req_t req, Op op) {
  Record r;
  r.req = req;
  r.op = op;
  const struct fuse_ctx* c = fuse_req_ctx(req);
  r.uid = c->uid;
  r.gid = c->gid;
  r.pid = c->pid;
  r.umask = c->umask;
  return r;
}

void Queue(Record&& r) { S(r.req)->Enqueue(std::move(r)); }

// FUSE_KERNEL_MINOR_VERSION of the libfuse built against (its fuse_kernel.h is not installed).
#if FUSE_MAJOR_VERSION == 3 && FUSE_MINOR_VERSION == 14
constexpr unsigned kLibfuseProtoMinor = 38;
#else
constexpr unsigned kLibfuseProtoMinor = ~0u;  // not known for this libfuse: report the kernel's
#endif

unsigned MaxPagesLimit() {
  // Linux 6.13+ makes the limit a sysctl; before, it was fixed at 256 pages.
  std::ifstream in("/proc/sys/fs/fuse/max_pages_limit");
  unsigned pages = 0;
  if (in >> pages && pages > 0) return pages;
  return 256;
}

// The kernel offers at INIT no more readahead than its default for the mount's backing device
// (128 KiB), so sequential reads arrive as 128 KiB requests. Root may raise the device's
// read_ahead_kb to what the mount asked for (up to the largest request, max_pages): measured here,
// 1 MiB reads of a 1 GiB file ran ~40% faster through a do-nothing file system.
void RaiseReadahead(Session* s) {
  unsigned want, max_request;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    want = s->options.max_readahead;
    max_request = s->granted.max_write;  // max_pages * page size, as reads are bounded too
    if (want > max_request) want = max_request;
    if (geteuid() != 0 || s->connection == 0 || want <= s->granted.max_readahead) return;
  }
  std::string path = "/sys/class/bdi/0:" + std::to_string(s->connection) + "/read_ahead_kb";
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  std::string kb = std::to_string(want / 1024);
  char now[32] = {};
  if (write(fd, kb.data(), kb.size()) == static_cast<ssize_t>(kb.size()) && pread(fd, now, sizeof(now) - 1, 0) > 0) {
    std::lock_guard<std::mutex> lock(s->mu);
    s->granted.max_readahead = static_cast<unsigned>(strtoul(now, nullptr, 10)) * 1024;
  }
  close(fd);
}

void Init(void* userdata, struct fuse_conn_info* conn) {
  Session* s = static_cast<Session*>(userdata);
  const MountOptions& o = s->options;
  auto want = [conn](unsigned cap, bool on) {
    if (on && (conn->capable & cap))
      conn->want |= cap;
    else
      conn->want &= ~cap;
  };
  want(FUSE_CAP_WRITEBACK_CACHE, o.writeback_cache);
  want(FUSE_CAP_READDIRPLUS, o.readdirplus);
  // Always READDIRPLUS when granted: with AUTO the kernel mixes in plain READDIRs, and whether
  // an answer's entries are lookups would change from one request to the next.
  want(FUSE_CAP_READDIRPLUS_AUTO, false);
  want(FUSE_CAP_PARALLEL_DIROPS, o.parallel_dirops);
  want(FUSE_CAP_ASYNC_READ, true);
  // The kernel clears setuid/setgid on write, truncate and chown itself, with a SETATTR of the
  // mode (with HANDLE_KILLPRIV it would leave that to the file system, without telling it when).
  want(FUSE_CAP_HANDLE_KILLPRIV, false);
  unsigned offered_readahead = conn->max_readahead;
  if (o.max_write >= 4096 && o.max_write < conn->max_write) conn->max_write = o.max_write;
  if (o.max_readahead < conn->max_readahead) conn->max_readahead = o.max_readahead;
  conn->time_gran = 1;

  Granted g;
  g.proto_major = conn->proto_major;
  // conn says what the kernel offers; the connection speaks the lower of that and libfuse's own.
  g.proto_minor = conn->proto_minor < kLibfuseProtoMinor ? conn->proto_minor : kLibfuseProtoMinor;
  unsigned page = static_cast<unsigned>(sysconf(_SC_PAGESIZE));
  unsigned pages_bytes = MaxPagesLimit() * page;
  g.max_write = conn->max_write < pages_bytes ? conn->max_write : pages_bytes;
  g.max_readahead = conn->max_readahead < offered_readahead ? conn->max_readahead : offered_readahead;
  g.writeback_cache = conn->want & FUSE_CAP_WRITEBACK_CACHE;
  g.readdirplus = conn->want & FUSE_CAP_READDIRPLUS;
  g.parallel_dirops = conn->want & FUSE_CAP_PARALLEL_DIROPS;
  std::lock_guard<std::mutex> lock(s->mu);
  s->granted = g;
  s->init_seen = true;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Record r = Base(req, Op::Lookup);
  r.ino = parent;
  r.name = name;
  Queue(std::move(r));
}

// FORGET has no answer: libfuse's request ends here; JS gets one record per inode.
void ForgetMany(fuse_req_t req, size_t count, const struct fuse_forget_data* forgets) {
  Session* s = S(req);
  Record base = Base(req, Op::Forget);
  base.req = nullptr;
  for (size_t i = 0; i < count; i++) {
    Record r;
    r.op = Op::Forget;
    r.uid = base.uid;
    r.gid = base.gid;
    r.pid = base.pid;
    r.umask = base.umask;
    r.ino = forgets[i].ino;
    r.size = forgets[i].nlookup;
    s->Enqueue(std::move(r));
  }
  fuse_reply_none(req);
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct fuse_forget_data one = {ino, nlookup};
  ForgetMany(req, 1, &one);
}

void ForgetMulti(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) { ForgetMany(req, count, forgets); }

void Getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Getattr);
  r.ino = ino;
  if (fi) {
    r.has_fh = true;
    r.fh = fi->fh;
  }
  Queue(std::move(r));
}

void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Setattr);
  r.ino = ino;
  if (fi) {
    r.has_fh = true;
    r.fh = fi->fh;
  }
  r.to_set = to_set;
  r.attr = *attr;
  Queue(std::move(r));
}

void Readlink(fuse_req_t req, fuse_ino_t ino) {
  Record r = Base(req, Op::Readlink);
  r.ino = ino;
  Queue(std::move(r));
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Record r = Base(req, Op::Mknod);
  r.ino = parent;
  r.name = name;
  r.mode = mode;
  r.rdev = rdev;
  Queue(std::move(r));
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Record r = Base(req, Op::Mkdir);
  r.ino = parent;
  r.name = name;
  r.mode = mode;
  Queue(std::move(r));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Record r = Base(req, Op::Unlink);
  r.ino = parent;
  r.name = name;
  Queue(std::move(r));
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Record r = Base(req, Op::Rmdir);
  r.ino = parent;
  r.name = name;
  Queue(std::move(r));
}

void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Record r = Base(req, Op::Symlink);
  r.ino = parent;
  r.name = name;
  r.name2 = target;
  Queue(std::move(r));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned int flags) {
  Record r = Base(req, Op::Rename);
  r.ino = parent;
  r.name = name;
  r.ino2 = newparent;
  r.name2 = newname;
  r.flags = static_cast<int32_t>(flags);
  Queue(std::move(r));
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Record r = Base(req, Op::Link);
  r.ino = ino;
  r.ino2 = newparent;
  r.name2 = newname;
  Queue(std::move(r));
}

void Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Open);
  r.ino = ino;
  r.flags = fi->flags;
  Queue(std::move(r));
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Read);
  r.ino = ino;
  r.fh = fi->fh;
  r.size = size;
  r.offset = off;
  Queue(std::move(r));
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Write);
  r.ino = ino;
  r.fh = fi->fh;
  r.offset = off;
  r.flags = fi->flags;
  r.data_len = size;
  Session* s = S(req);  // requests are read on the JS thread, which owns the arena
  if (s->arena && s->arena_size - s->arena_used >= size) {
    memcpy(s->arena + s->arena_used, buf, size);
    r.arena_offset = static_cast<int64_t>(s->arena_used);
    s->arena_used += (size + 63) & ~static_cast<size_t>(63);  // each write cache-line aligned
    if (s->arena_used > s->arena_size) s->arena_used = s->arena_size;
  } else {
    r.data.reset(new char[size > 0 ? size : 1]);
    memcpy(r.data.get(), buf, size);
  }
  Queue(std::move(r));
}

void Flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Flush);
  r.ino = ino;
  r.fh = fi->fh;
  Queue(std::move(r));
}

void Release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Release);
  r.ino = ino;
  r.fh = fi->fh;
  r.flags = fi->flags;
  Queue(std::move(r));
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Fsync);
  r.ino = ino;
  r.fh = fi->fh;
  r.extra = datasync;
  Queue(std::move(r));
}

void Opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Opendir);
  r.ino = ino;
  r.flags = fi->flags;
  Queue(std::move(r));
}

void Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Readdir);
  r.ino = ino;
  r.fh = fi->fh;
  r.size = size;
  r.offset = off;
  Queue(std::move(r));
}

void Readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Readdirplus);
  r.ino = ino;
  r.fh = fi->fh;
  r.size = size;
  r.offset = off;
  Queue(std::move(r));
}

void Releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Releasedir);
  r.ino = ino;
  r.fh = fi->fh;
  Queue(std::move(r));
}

void Fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Fsyncdir);
  r.ino = ino;
  r.fh = fi->fh;
  r.extra = datasync;
  Queue(std::move(r));
}

void Statfs(fuse_req_t req, fuse_ino_t ino) {
  Record r = Base(req, Op::Statfs);
  r.ino = ino;
  Queue(std::move(r));
}

void Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  Record r = Base(req, Op::Setxattr);
  r.ino = ino;
  r.name = name;
  r.data.reset(new char[size > 0 ? size : 1]);
  memcpy(r.data.get(), value, size);
  r.data_len = size;
  r.flags = flags;
  Queue(std::move(r));
}

void Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Record r = Base(req, Op::Getxattr);
  r.ino = ino;
  r.name = name;
  r.size = size;
  Queue(std::move(r));
}

void Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Record r = Base(req, Op::Listxattr);
  r.ino = ino;
  r.size = size;
  Queue(std::move(r));
}

void Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Record r = Base(req, Op::Removexattr);
  r.ino = ino;
  r.name = name;
  Queue(std::move(r));
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  Record r = Base(req, Op::Access);
  r.ino = ino;
  r.extra = mask;
  Queue(std::move(r));
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Create);
  r.ino = parent;
  r.name = name;
  r.mode = mode;
  r.flags = fi->flags;
  Queue(std::move(r));
}

void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Lseek);
  r.ino = ino;
  r.fh = fi->fh;
  r.offset = off;
  r.extra = whence;
  Queue(std::move(r));
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info* fi) {
  Record r = Base(req, Op::Fallocate);
  r.ino = ino;
  r.fh = fi->fh;
  r.flags = mode;
  r.offset = offset;
  r.size = static_cast<uint64_t>(length);
  Queue(std::move(r));
}

struct fuse_lowlevel_ops MakeOps() {
  struct fuse_lowlevel_ops o;
  memset(&o, 0, sizeof(o));
  o.init = Init;
  o.lookup = Lookup;
  o.forget = Forget;
  o.forget_multi = ForgetMulti;
  o.getattr = Getattr;
  o.setattr = Setattr;
  o.readlink = Readlink;
  o.mknod = Mknod;
  o.mkdir = Mkdir;
  o.unlink = Unlink;
  o.rmdir = Rmdir;
  o.symlink = Symlink;
  o.rename = Rename;
  o.link = Link;
  o.open = Open;
  o.read = Read;
  o.write = Write;
  o.flush = Flush;
  o.release = Release;
  o.fsync = Fsync;
  o.opendir = Opendir;
  o.readdir = Readdir;
  o.readdirplus = Readdirplus;
  o.releasedir = Releasedir;
  o.fsyncdir = Fsyncdir;
  o.statfs = Statfs;
  o.setxattr = Setxattr;
  o.getxattr = Getxattr;
  o.listxattr = Listxattr;
  o.removexattr = Removexattr;
  o.access = Access;
  o.create = Create;
  o.lseek = Lseek;
  o.fallocate = Fallocate;
  return o;
}

const struct fuse_lowlevel_ops kOps = MakeOps();

}  // namespace

const struct fuse_lowlevel_ops* FuseOps() { return &kOps; }

void MountThread(Session* s) {
  pthread_setname_np(pthread_self(), "bazil-fuse-mount");
  MountResult m = MountFuse(s->mountpoint, s->options);
  if (m.fd < 0) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->mount_error = m.error;
      s->mount_error_code = m.code;
    }
    s->Post(kEventMountFailed);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->real_mountpoint = m.real_mountpoint;
    s->by_fusermount = m.by_fusermount;
    s->connection = m.connection;
  }
  // libfuse takes a descriptor mounted by someone else as "/dev/fd/N".
  std::string dev = "/dev/fd/" + std::to_string(m.fd);
  if (fuse_session_mount(s->se, dev.c_str()) != 0) {
    close(m.fd);
    UnmountFuse(m.real_mountpoint, m.connection, m.by_fusermount, true);
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->mount_error = "libfuse did not take the mount's /dev/fuse descriptor";
      s->mount_error_code = "EIO";
    }
    s->Post(kEventMountFailed);
    return;
  }
  RegisterLive(s);
  // Non-blocking: the JS thread reads only what is there, and returns to its event loop.
  int fd = fuse_session_fd(s->se);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  s->Post(kEventMounted);
}

namespace {

// Requests read per readable event before the event loop gets a turn (it comes back at once
// while more are waiting: libuv's poll is level-triggered).
constexpr int kMaxReadsPerWake = 256;

// Reads and hands to libfuse every request waiting (up to kMaxReadsPerWake). Returns false when
// the kernel side is gone (unmounted from outside, or the connection aborted).
bool ReadRequests(Session* s) {
  for (int n = 0; n < kMaxReadsPerWake; n++) {
    int res = fuse_session_receive_buf(s->se, &s->buf);
    if (res == -EAGAIN) return true;
    if (res == -EINTR) continue;
    if (res <= 0) return false;  // 0 or -ENODEV: the connection is over
    fuse_session_process_buf(s->se, &s->buf);
    if (!s->init_posted) {
      bool seen;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        seen = s->init_seen;
      }
      if (seen) {  // INIT is answered now: the mount can resolve
        s->init_posted = true;
        RaiseReadahead(s);
        s->Post(kEventInit);
      }
    }
  }
  return true;
}

void OnReadable(uv_poll_t* handle, int status, int events) {
  Session* s = static_cast<Session*>(handle->data);
  if (!ReadRequests(s) || status < 0) {
    uv_poll_stop(handle);
    s->Post(kEventEnded);
  }
}

void FreePoll(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

uint64_t NowNs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

}  // namespace

bool AwaitRequests(Session* s, uint32_t max_us) {
  if (s->poll == nullptr || s->state != State::Mounted) return false;
  // What is read here is taken by JS at once: no wake-up for it (Enqueue sends none while one is
  // pending). Any other event that comes meanwhile gets its wake-up below.
  bool was_pending;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    was_pending = s->wake_pending;
    s->wake_pending = true;
  }
  uint64_t deadline = NowNs() + static_cast<uint64_t>(max_us) * 1000;
  bool got = false, alive = true;
  for (;;) {
    alive = ReadRequests(s);
    {
      std::lock_guard<std::mutex> lock(s->mu);
      got = !s->queue.empty();
    }
    if (got || !alive || NowNs() >= deadline) break;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!was_pending) {
      s->wake_pending = s->events != 0;
      wake = s->wake_pending;
    }
  }
  if (wake) napi_call_threadsafe_function(s->tsfn, nullptr, napi_tsfn_nonblocking);
  if (!alive) {
    uv_poll_stop(s->poll);
    s->Post(kEventEnded);
  }
  return got;
}

void StartServing(Session* s, uv_loop_t* loop) {
  s->poll = new uv_poll_t;
  if (uv_poll_init(loop, s->poll, fuse_session_fd(s->se)) != 0) {
    delete s->poll;
    s->poll = nullptr;
    s->Post(kEventEnded);
    return;
  }
  s->poll->data = s;
  uv_poll_start(s->poll, UV_READABLE, OnReadable);
}

void StopServing(Session* s, std::atomic<bool>* done) {
  if (s->poll == nullptr) return;
  uv_poll_stop(s->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(s->poll), FreePoll);
  s->poll = nullptr;
  int fd = fuse_session_fd(s->se);
  while (done && !done->load(std::memory_order_acquire)) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 10) < 0 && errno != EINTR) break;
    if (!ReadRequests(s)) break;  // closing: each is answered EIO
  }
}
