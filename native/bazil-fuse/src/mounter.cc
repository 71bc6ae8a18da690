#include "mounter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace {

struct MountEntry {
  unsigned major = 0, minor = 0;
  std::string mountpoint, fstype;
};

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const char* p = s.c_str() + i + 1;
      if (p[0] >= '0' && p[0] <= '7' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
        out.push_back(static_cast<char>((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::vector<MountEntry> ReadMountTable() {
  std::vector<MountEntry> entries;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string word;
    while (fields >> word) f.push_back(word);
    if (f.size() < 7) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") dash++;
    if (dash + 1 >= f.size()) continue;
    MountEntry e;
    if (sscanf(f[2].c_str(), "%u:%u", &e.major, &e.minor) != 2) continue;
    e.mountpoint = Unescape(f[4]);
    e.fstype = f[dash + 1];
    entries.push_back(e);
  }
  return entries;
}

std::string Errno(int err) { return strerrorname_np(err) ? strerrorname_np(err) : "EIO"; }

MountResult Failure(const std::string& code, const std::string& error) {
  MountResult r;
  r.code = code;
  r.error = error;
  return r;
}

bool IsSetuidRoot(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && st.st_uid == 0 && (st.st_mode & S_ISUID);
}

// libfuse looks in its install folder first, then in PATH.
std::string FindFusermount() {
  if (access("/usr/bin/fusermount3", X_OK) == 0) return "/usr/bin/fusermount3";
  const char* path = getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/fusermount3";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

bool UserAllowOther() {
  std::ifstream in("/etc/fuse.conf");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find_first_not_of(" \t");
    size_t b = line.find_last_not_of(" \t\r");
    if (a != std::string::npos && line.substr(a, b - a + 1) == "user_allow_other") return true;
  }
  return false;
}

// fusermount3 splits options at commas; a backslash escapes the next character.
std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct Spawned {
  int status = -1;     // wait status, -1 if it did not run
  std::string stderr_text;
  int received_fd = -1;  // the descriptor fusermount3 sent back (mount only)
  int spawn_error = 0;
};

// Runs fusermount3 with `args`, stdin and stdout on /dev/null, stderr captured. With `comm`, it
// gets one end of a socket pair as fd 3 (named in _FUSE_COMMFD) and sends /dev/fuse back on it.
Spawned RunFusermount(const std::string& program, const std::vector<std::string>& args, bool comm) {
  Spawned result;
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.spawn_error = errno;
    return result;
  }
  int sock[2] = {-1, -1};
  if (comm && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) != 0) {
    result.spawn_error = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (comm) posix_spawn_file_actions_adddup2(&actions, sock[0], 3);  // dup2 clears close-on-exec
  posix_spawn_file_actions_addclosefrom_np(&actions, comm ? 4 : 3);

  // A clean signal state: Node ignores SIGPIPE, and a thread's mask is inherited.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) {
    if (strncmp(*e, "_FUSE_COMMFD=", 13) != 0) env_strings.push_back(*e);
  }
  if (comm) env_strings.push_back("_FUSE_COMMFD=3");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("fusermount3"));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid;
  int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(err_pipe[1]);
  if (comm) close(sock[0]);
  if (rc != 0) {
    result.spawn_error = rc;
    close(err_pipe[0]);
    if (comm) close(sock[1]);
    return result;
  }

  if (comm) {
    // One byte with the descriptor attached, or end of file when fusermount3 failed.
    char byte;
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    while ((n = recvmsg(sock[1], &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    struct cmsghdr* cmsg = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
    if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      memcpy(&result.received_fd, CMSG_DATA(cmsg), sizeof(int));
    }
    close(sock[1]);
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(err_pipe[0], buf, sizeof(buf))) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (result.stderr_text.size() < 16384) result.stderr_text.append(buf, n);
  }
  close(err_pipe[0]);
  while (waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  while (!result.stderr_text.empty() && (result.stderr_text.back() == '\n' || result.stderr_text.back() == ' ')) {
    result.stderr_text.pop_back();
  }
  return result;
}

MountResult MountSys(const std::string& mnt, const struct stat& st, const MountOptions& o) {
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Failure(Errno(err), std::string("/dev/fuse cannot be opened (") + strerror(err) +
                                   "): load the kernel's fuse module (modprobe fuse), or in a container pass the device (--device /dev/fuse)");
  }
  char kernel_opts[256];
  snprintf(kernel_opts, sizeof(kernel_opts), "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", fd, st.st_mode & S_IFMT,
           getuid(), getgid(), o.allow_other ? ",allow_other" : "", o.default_permissions ? ",default_permissions" : "");
  std::string type = o.subtype.empty() ? "fuse" : "fuse." + o.subtype;
  std::string source = !o.fsname.empty() ? o.fsname : !o.subtype.empty() ? o.subtype : "bazil";
  if (mount(source.c_str(), mnt.c_str(), type.c_str(), MS_NOSUID | MS_NODEV, kernel_opts) != 0) {
    int err = errno;
    close(fd);
    if (err == ENODEV) {
      return Failure("ENODEV", "the kernel has no fuse file system: load its module (modprobe fuse)");
    }
    return Failure(Errno(err), "mounting at " + mnt + " failed: " + strerror(err));
  }
  MountResult r;
  r.fd = fd;
  return r;
}

MountResult MountUser(const std::string& mnt, const std::string& shown, const MountOptions& o) {
  std::string program = FindFusermount();
  if (program.empty()) {
    return Failure("ENOENT", "fusermount3 is missing, and a normal user mounts through it: apt-get install fuse3");
  }
  if (!IsSetuidRoot(program)) {
    return Failure("EPERM", program + " is not setuid root, so a normal user cannot mount with it: reinstall fuse3 (apt-get install --reinstall fuse3)");
  }
  // fusermount3 opens /dev/fuse with the user's own rights.
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    struct stat dev;
    char mode[8] = "?";
    if (stat("/dev/fuse", &dev) == 0) snprintf(mode, sizeof(mode), "%03o", dev.st_mode & 0777);
    return Failure("EACCES", std::string("/dev/fuse (mode ") + mode +
                                 ") is not open to this user, and fusermount3 needs it to be: make it 0666, as distributions do (chmod 666 /dev/fuse, or a udev rule)");
  }
  if (o.allow_other && !UserAllowOther()) {
    return Failure("EPERM", "allow_other needs a line `user_allow_other` in /etc/fuse.conf for a normal user (or mount as root)");
  }
  if (access(mnt.c_str(), W_OK) != 0) {
    return Failure("EACCES", shown + " is not writable by this user (uid " + std::to_string(getuid()) +
                                 "): fusermount3 mounts only on a directory the user may write to");
  }
  std::string opts = "fsname=" + EscapeOption(o.fsname.empty() ? "bazil" : o.fsname);
  if (!o.subtype.empty()) opts += ",subtype=" + EscapeOption(o.subtype);
  if (o.allow_other) opts += ",allow_other";
  if (o.default_permissions) opts += ",default_permissions";
  Spawned run = RunFusermount(program, {"-o", opts, "--", mnt}, true);
  if (run.spawn_error) {
    return Failure(Errno(run.spawn_error), "running " + program + " failed: " + strerror(run.spawn_error));
  }
  if (run.received_fd < 0) {
    std::string said = run.stderr_text.empty() ? "no message" : run.stderr_text;
    return Failure("EMOUNT", "fusermount3 did not mount " + shown + ": " + said);
  }
  MountResult r;
  r.fd = run.received_fd;
  r.by_fusermount = true;
  return r;
}

// Why a mountpoint cannot be used, in words that say what to do.
MountResult BadMountpoint(const std::string& m, int err) {
  switch (err) {
    case ENOENT:
      return Failure("ENOENT", "mountpoint " + m + " does not exist: create the directory first");
    case ENOTCONN:
      return Failure("ENOTCONN", m + " is a dead FUSE mount (its file system stopped): clear it with `fusermount3 -u " + m + "`");
    case EACCES:
      return Failure("EACCES", m + " cannot be reached: permission denied on it or a folder above it");
    default:
      return Failure(Errno(err), "mountpoint " + m + ": " + strerror(err));
  }
}

}  // namespace

MountResult MountFuse(const std::string& mountpoint, const MountOptions& options) {
  char real[PATH_MAX];
  struct stat st;
  if (!realpath(mountpoint.c_str(), real) || stat(real, &st) != 0) return BadMountpoint(mountpoint, errno);
  if (!S_ISDIR(st.st_mode)) return Failure("ENOTDIR", "mountpoint " + mountpoint + " is not a directory");
  struct stat dev;
  if (stat("/dev/fuse", &dev) != 0) {
    return Failure("ENOENT", "/dev/fuse is missing: load the kernel's fuse module (modprobe fuse), or in a container pass the device (--device /dev/fuse)");
  }
  MountResult r = geteuid() == 0 ? MountSys(real, st, options) : MountUser(real, mountpoint, options);
  if (r.fd < 0) return r;
  r.real_mountpoint = real;
  // The new mount is the last one at that path with our type.
  std::string type = options.subtype.empty() ? "fuse" : "fuse." + options.subtype;
  for (const MountEntry& e : ReadMountTable()) {
    if (e.mountpoint == r.real_mountpoint && e.fstype == type) r.connection = e.minor;
  }
  return r;
}

bool ConnectionMounted(unsigned connection) {
  if (connection == 0) return false;
  for (const MountEntry& e : ReadMountTable()) {
    if (e.major == 0 && e.minor == connection && e.fstype.compare(0, 4, "fuse") == 0) return true;
  }
  return false;
}

UnmountResult UnmountFuse(const std::string& mnt, unsigned connection, bool by_fusermount, bool detach) {
  UnmountResult r;
  // Only our own mount, and only when it is the one on top at that path.
  std::vector<MountEntry> table = ReadMountTable();
  bool ours = false;
  const MountEntry* top = nullptr;
  for (const MountEntry& e : table) {
    if (e.major == 0 && e.minor == connection && e.fstype.compare(0, 4, "fuse") == 0) ours = true;
    if (e.mountpoint == mnt) top = &e;
  }
  if (connection != 0 && !ours) return r;  // gone already (unmounted or detached by someone else)
  if (connection != 0 && (!top || top->minor != connection || top->major != 0)) {
    r.code = "EBUSY";
    r.error = "another file system is mounted over " + mnt + ": unmount it first";
    return r;
  }
  if (!by_fusermount) {
    if (umount2(mnt.c_str(), (detach ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) == 0) return r;
    int err = errno;
    if (err == EINVAL && !ConnectionMounted(connection)) return r;
    r.code = Errno(err);
    r.error = err == EBUSY ? "" : "unmounting " + mnt + " failed: " + strerror(err);
    return r;
  }
  std::string program = FindFusermount();
  if (program.empty()) {
    r.code = "ENOENT";
    r.error = "fusermount3 is missing, and a normal user unmounts through it: apt-get install fuse3";
    return r;
  }
  std::vector<std::string> args = {"-u"};
  if (detach) args.push_back("-z");
  args.push_back("--");
  args.push_back(mnt);
  Spawned run = RunFusermount(program, args, false);
  if (run.spawn_error) {
    r.code = Errno(run.spawn_error);
    r.error = "running " + program + " failed: " + strerror(run.spawn_error);
  } else if (!(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0)) {
    if (!ConnectionMounted(connection)) return r;
    bool busy = run.stderr_text.find("busy") != std::string::npos;
    r.code = busy ? "EBUSY" : "EIO";
    r.error = busy ? "" : "fusermount3 did not unmount " + mnt + ": " + run.stderr_text;
  }
  return r;
}
