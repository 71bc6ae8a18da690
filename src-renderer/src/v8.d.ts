// The window runs on V8 (Chromium, Electron), which has Error.stackTraceLimit as Node does; the
// shared error classes (src-main/common/errors.ts) use it.
interface ErrorConstructor {
  stackTraceLimit: number;
}
