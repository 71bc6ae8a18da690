// Invalidations: JS queues them; the notify thread sends them. Never on the JS thread: an
// inval_inode waits for the page locks of the inode's cached pages, and a read holding one waits
// for JS to answer it. Fire and forget: ENOENT (the kernel holds no such inode or name) is the
// normal answer for something the kernel never cached.
#include <pthread.h>

#include <string>

#include "js.h"
#include "session.h"

namespace {

void NotifierThread(Session* s) {
  pthread_setname_np(pthread_self(), "bazil-fuse-note");
  for (;;) {
    Notification n;
    {
      std::unique_lock<std::mutex> lock(s->nmu);
      s->ncv.wait(lock, [s] { return s->nstop || !s->nq.empty(); });
      if (s->nstop) {
        s->notify_done.store(true, std::memory_order_release);
        return;
      }
      n = std::move(s->nq.front());
      s->nq.pop_front();
    }
    switch (n.kind) {
      case Notification::InvalInode:
        fuse_lowlevel_notify_inval_inode(s->se, n.parent_or_ino, n.offset, n.length);
        break;
      case Notification::InvalEntry:
        fuse_lowlevel_notify_inval_entry(s->se, n.parent_or_ino, n.name.data(), n.name.size());
        break;
      case Notification::Delete:
        fuse_lowlevel_notify_delete(s->se, n.parent_or_ino, n.child, n.name.data(), n.name.size());
        break;
    }
  }
}

void Push(Session* s, Notification&& n) {
  if (s->state != State::Mounted && s->state != State::Unmounting) return;
  std::lock_guard<std::mutex> lock(s->nmu);
  if (s->nstop) return;
  s->nq.push_back(std::move(n));
  if (!s->notify_thread.joinable()) s->notify_thread = std::thread(NotifierThread, s);
  s->ncv.notify_one();
}

// Arguments common to the three: the session, then numbers, then (for two) a name.
struct Args {
  napi_value argv[4];
  size_t argc = 4;
  Session* s = nullptr;
  Reader rd;
  Args(napi_env env, napi_callback_info info, const char* fn, size_t need) : rd{env, fn, ""} {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc < need) {
      napi_throw_type_error(env, nullptr, (std::string(fn) + ": " + std::to_string(need) + " arguments").c_str());
      return;
    }
    s = SessionFrom(env, argv[0]);
  }
  bool Name(napi_value v, std::string* out) {
    if (!rd.Bytes(v, "name", out)) return false;
    if (out->empty() || out->find('\0') != std::string::npos || out->find('/') != std::string::npos) {
      return rd.Fail("name", "must be a non-empty name without '/' or NUL");
    }
    return true;
  }
};

napi_value NotifyInvalInode(napi_env env, napi_callback_info info) {
  Args a(env, info, "notifyInvalInode", 4);
  Notification n{Notification::InvalInode, 0, 0, 0, 0, {}};
  if (!a.s || !a.rd.U64(a.argv[1], "ino", &n.parent_or_ino) || !a.rd.I64(a.argv[2], "offset", &n.offset) ||
      !a.rd.I64(a.argv[3], "length", &n.length)) {
    return nullptr;
  }
  Push(a.s, std::move(n));
  return nullptr;
}

// At once, on this thread: attributes only (offset -1) take no page lock. Only for an inode that
// a request still unanswered holds, so the kernel's reference is not the last one (dropping it
// could write dirty pages back, which would need this very thread to answer).
napi_value NotifyInvalAttrNow(napi_env env, napi_callback_info info) {
  Args a(env, info, "notifyInvalAttrNow", 2);
  uint64_t ino;
  if (!a.s || !a.rd.U64(a.argv[1], "ino", &ino)) return nullptr;
  if (a.s->state == State::Mounted || a.s->state == State::Unmounting) {
    fuse_lowlevel_notify_inval_inode(a.s->se, ino, -1, 0);
  }
  return nullptr;
}

napi_value NotifyInvalEntry(napi_env env, napi_callback_info info) {
  Args a(env, info, "notifyInvalEntry", 3);
  Notification n{Notification::InvalEntry, 0, 0, 0, 0, {}};
  if (!a.s || !a.rd.U64(a.argv[1], "parent", &n.parent_or_ino) || !a.Name(a.argv[2], &n.name)) return nullptr;
  Push(a.s, std::move(n));
  return nullptr;
}

napi_value NotifyDelete(napi_env env, napi_callback_info info) {
  Args a(env, info, "notifyDelete", 4);
  Notification n{Notification::Delete, 0, 0, 0, 0, {}};
  if (!a.s || !a.rd.U64(a.argv[1], "parent", &n.parent_or_ino) || !a.rd.U64(a.argv[2], "child", &n.child) ||
      !a.Name(a.argv[3], &n.name)) {
    return nullptr;
  }
  Push(a.s, std::move(n));
  return nullptr;
}

}  // namespace

void StopNotifier(Session* s) {
  {
    std::lock_guard<std::mutex> lock(s->nmu);
    s->nstop = true;
    s->nq.clear();
  }
  s->ncv.notify_all();
  // A notification in progress may wait on a page lock that a request not yet read holds: stop
  // serving, but read and refuse requests until the thread is done.
  StopServing(s, s->notify_thread.joinable() ? &s->notify_done : nullptr);
  if (s->notify_thread.joinable()) s->notify_thread.join();
}

void DefineNotifications(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"notifyInvalInode", nullptr, NotifyInvalInode, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"notifyInvalAttrNow", nullptr, NotifyInvalAttrNow, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"notifyInvalEntry", nullptr, NotifyInvalEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"notifyDelete", nullptr, NotifyDelete, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
