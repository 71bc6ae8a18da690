// Bazil's FUSE addon: what src-main/engine/fuse/addon.ts declares as `Addon`. README.md has the
// design; session.h the threads and the data they share.
#include "session.h"

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"mount", nullptr, Mount, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"takeRaw", nullptr, TakeRaw, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"awaitRequests", nullptr, AwaitRequestsJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unmount", nullptr, Unmount, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  DefineReplies(env, exports);
  DefineNotifications(env, exports);
  DefineFileCalls(env, exports);
  return exports;
}
