# Bazil's FUSE addon: C++ over libfuse3's low-level API (Debian: libfuse3-dev), N-API only.
# Built by scripts/build-bazil-fuse.mjs at `npm install` (see README.md).
{
  "targets": [
    {
      "target_name": "bazil_fuse",
      "sources": [
        "src/addon.cc",
        "src/file-calls.cc",
        "src/fuse-ops.cc",
        "src/js.cc",
        "src/mounter.cc",
        "src/names.cc",
        "src/notifier.cc",
        "src/replies.cc",
        "src/session.cc",
        "src/take.cc"
      ],
      "defines": ["FUSE_USE_VERSION=314", "NAPI_VERSION=8", "_FILE_OFFSET_BITS=64"],
      # pkg-config when it is there; Debian's libfuse3-dev does not need it (paths below).
      "cflags": ["<!@(sh -c 'pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3')"],
      "libraries": ["<!@(sh -c 'pkg-config --libs fuse3 2>/dev/null || echo -lfuse3 -lpthread')"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fvisibility=hidden"],
      "conditions": [
        ["\"<!(echo $BAZIL_FUSE_SANITIZE)\" != \"\"", {
          "cflags_cc": ["-fsanitize=<!(echo $BAZIL_FUSE_SANITIZE)", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=<!(echo $BAZIL_FUSE_SANITIZE)"]
        }]
      ]
    }
  ]
}
