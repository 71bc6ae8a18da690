// Mounting and unmounting: mount(2) as root, fusermount3 (setuid root) for a normal user, and the
// mount table. Each failure comes with a message that says what to do.
//
// The addon mounts itself and hands libfuse the /dev/fuse descriptor ("/dev/fd/N"), rather than
// letting fuse_session_mount() do it: fusermount3's own message then reaches the caller instead
// of the process's stderr, and libfuse never owns the mountpoint, whose unmount in libfuse always
// aborts the connection and detaches (no EBUSY), which unmount(detach=false) must not do.
#pragma once

#include <string>

#include "session.h"

struct MountResult {
  int fd = -1;             // /dev/fuse of the new mount, or -1
  std::string code;        // on failure: an errno name ("ENOENT") or "EMOUNT"
  std::string error;       // on failure: what happened and what to do
  std::string real_mountpoint;
  bool by_fusermount = false;
  unsigned connection = 0;  // device minor, 0 if the mount table did not show it
};

// Blocking (fusermount3 runs as a child process): call it off the JS thread.
MountResult MountFuse(const std::string& mountpoint, const MountOptions& options);

struct UnmountResult {
  std::string code;   // empty on success, "EBUSY" when busy
  std::string error;
};

// Unmounts the mount whose device minor is `connection` at `real_mountpoint` (lazily when
// `detach`). A mount no longer in the table counts as unmounted. Blocking: off the JS thread.
UnmountResult UnmountFuse(const std::string& real_mountpoint, unsigned connection, bool by_fusermount, bool detach);

// Whether the mount table still holds a FUSE mount with device minor `connection`.
bool ConnectionMounted(unsigned connection);
