// The only native code in bpfgen: thin wrappers that hand caller-built
// buffers to Linux system calls and return numbers. Every structure layout
// (bpf_attr, sockaddr, netlink messages) is built and parsed in TypeScript;
// this file knows none of them.

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

namespace {

// Throws a JavaScript Error shaped like Node's own system errors:
// `errno` (number), `code` ('EINVAL') and `syscall`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall_name) {
  std::string message = std::string(syscall_name) + ": " + std::strerror(err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) error.Set("code", Napi::String::New(env, name));
#endif
  error.Set("syscall", Napi::String::New(env, syscall_name));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IsBytes(const Napi::Value& value) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

// Reads argument `index` as a 32-bit integer; sets `ok` false (with a
// pending TypeError) when it is not a number.
int64_t IntegerArg(const Napi::CallbackInfo& info, size_t index, const char* what, bool& ok) {
  if (!info[index].IsNumber()) {
    ok = false;
    ThrowType(info.Env(), std::string(what) + " must be a number");
    return 0;
  }
  return info[index].As<Napi::Number>().Int64Value();
}

// Reads argument `index` as a Uint8Array; an absent or undefined optional
// argument yields an empty array with data() == nullptr.
Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t index, const char* what, bool optional, bool& ok) {
  if (optional && (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull())) {
    return Napi::Uint8Array();
  }
  if (info.Length() <= index || !IsBytes(info[index])) {
    ok = false;
    ThrowType(info.Env(), std::string(what) + " must be a Uint8Array");
    return Napi::Uint8Array();
  }
  return info[index].As<Napi::Uint8Array>();
}

uint8_t* DataOf(Napi::Uint8Array& bytes) {
  return bytes.IsEmpty() ? nullptr : bytes.Data();
}

size_t LengthOf(const Napi::Uint8Array& bytes) {
  return bytes.IsEmpty() ? 0 : bytes.ByteLength();
}

// bpf(cmd, attr, pointers?) -> result of the syscall.
// `pointers` is an array of [holder, offset, pointee] triples: before the
// call, the address of pointee's bytes is stored as a native u64 at `offset`
// in `holder` (the attr itself, or a struct that attr points to). Passing the
// buffers here, rather than handing raw addresses to JavaScript, keeps every
// pointee referenced, and so alive, for the whole system call.
Napi::Value Bpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool ok = true;
  int64_t cmd = IntegerArg(info, 0, "cmd", ok);
  if (!ok) return env.Undefined();
  Napi::Uint8Array attr = BytesArg(info, 1, "attr", false, ok);
  if (!ok) return env.Undefined();

  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) return ThrowType(env, "pointers must be an array of [holder, offset, pointee]");
    Napi::Array pointers = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < pointers.Length(); i++) {
      Napi::Value entry = pointers.Get(i);
      if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 3) {
        return ThrowType(env, "pointers[" + std::to_string(i) + "] must be [holder, offset, pointee]");
      }
      Napi::Array triple = entry.As<Napi::Array>();
      Napi::Value holder = triple.Get(0u);
      Napi::Value offset = triple.Get(1u);
      Napi::Value pointee = triple.Get(2u);
      if (!IsBytes(holder) || !offset.IsNumber() || !IsBytes(pointee)) {
        return ThrowType(env, "pointers[" + std::to_string(i) + "] must be [Uint8Array, number, Uint8Array]");
      }
      Napi::Uint8Array holder_bytes = holder.As<Napi::Uint8Array>();
      int64_t at = offset.As<Napi::Number>().Int64Value();
      if (at < 0 || static_cast<uint64_t>(at) + sizeof(uint64_t) > holder_bytes.ByteLength()) {
        return ThrowType(env, "pointers[" + std::to_string(i) + "]: offset " + std::to_string(at) +
                                  " does not fit a u64 in a holder of " + std::to_string(holder_bytes.ByteLength()) +
                                  " bytes");
      }
      Napi::Uint8Array pointee_bytes = pointee.As<Napi::Uint8Array>();
      uint64_t address = pointee_bytes.ByteLength() == 0 ? 0 : reinterpret_cast<uintptr_t>(pointee_bytes.Data());
      std::memcpy(holder_bytes.Data() + at, &address, sizeof address);
    }
  }

  long result = syscall(__NR_bpf, static_cast<int>(cmd), DataOf(attr), static_cast<unsigned int>(LengthOf(attr)));
  if (result < 0) return ThrowErrno(env, errno, "bpf");
  return Napi::Number::New(env, static_cast<double>(result));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  if (!ok) return info.Env().Undefined();
  // Linux releases the descriptor even when close() reports EINTR, so
  // retrying could close an unrelated descriptor opened meanwhile.
  if (close(static_cast<int>(fd)) < 0 && errno != EINTR) return ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t domain = IntegerArg(info, 0, "domain", ok);
  int64_t type = ok ? IntegerArg(info, 1, "type", ok) : 0;
  int64_t protocol = ok ? IntegerArg(info, 2, "protocol", ok) : 0;
  if (!ok) return info.Env().Undefined();
  int fd = socket(static_cast<int>(domain), static_cast<int>(type), static_cast<int>(protocol));
  if (fd < 0) return ThrowErrno(info.Env(), errno, "socket");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  Napi::Uint8Array address = ok ? BytesArg(info, 1, "sockaddr", false, ok) : Napi::Uint8Array();
  if (!ok) return info.Env().Undefined();
  if (bind(static_cast<int>(fd), reinterpret_cast<const sockaddr*>(DataOf(address)),
           static_cast<socklen_t>(LengthOf(address))) < 0) {
    return ThrowErrno(info.Env(), errno, "bind");
  }
  return info.Env().Undefined();
}

Napi::Value Setsockopt(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  int64_t level = ok ? IntegerArg(info, 1, "level", ok) : 0;
  int64_t name = ok ? IntegerArg(info, 2, "name", ok) : 0;
  Napi::Uint8Array value = ok ? BytesArg(info, 3, "value", false, ok) : Napi::Uint8Array();
  if (!ok) return info.Env().Undefined();
  if (setsockopt(static_cast<int>(fd), static_cast<int>(level), static_cast<int>(name), DataOf(value),
                 static_cast<socklen_t>(LengthOf(value))) < 0) {
    return ThrowErrno(info.Env(), errno, "setsockopt");
  }
  return info.Env().Undefined();
}

// getsockopt(fd, level, name, value) -> number of bytes the kernel wrote.
Napi::Value Getsockopt(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  int64_t level = ok ? IntegerArg(info, 1, "level", ok) : 0;
  int64_t name = ok ? IntegerArg(info, 2, "name", ok) : 0;
  Napi::Uint8Array value = ok ? BytesArg(info, 3, "value", false, ok) : Napi::Uint8Array();
  if (!ok) return info.Env().Undefined();
  socklen_t length = static_cast<socklen_t>(LengthOf(value));
  if (getsockopt(static_cast<int>(fd), static_cast<int>(level), static_cast<int>(name), DataOf(value), &length) < 0) {
    return ThrowErrno(info.Env(), errno, "getsockopt");
  }
  return Napi::Number::New(info.Env(), length);
}

// sendto(fd, data, flags, sockaddr?) -> bytes sent.
Napi::Value Sendto(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  Napi::Uint8Array data = ok ? BytesArg(info, 1, "data", false, ok) : Napi::Uint8Array();
  int64_t flags = ok ? IntegerArg(info, 2, "flags", ok) : 0;
  Napi::Uint8Array address = ok ? BytesArg(info, 3, "sockaddr", true, ok) : Napi::Uint8Array();
  if (!ok) return info.Env().Undefined();
  ssize_t sent;
  do {
    sent = sendto(static_cast<int>(fd), DataOf(data), LengthOf(data), static_cast<int>(flags),
                  reinterpret_cast<const sockaddr*>(DataOf(address)), static_cast<socklen_t>(LengthOf(address)));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ThrowErrno(info.Env(), errno, "sendto");
  return Napi::Number::New(info.Env(), static_cast<double>(sent));
}

// recvfrom(fd, data, flags, sockaddr?) -> bytes received (with MSG_TRUNC,
// the full datagram length); the sender's address is written to sockaddr.
Napi::Value Recvfrom(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  Napi::Uint8Array data = ok ? BytesArg(info, 1, "data", false, ok) : Napi::Uint8Array();
  int64_t flags = ok ? IntegerArg(info, 2, "flags", ok) : 0;
  Napi::Uint8Array address = ok ? BytesArg(info, 3, "sockaddr", true, ok) : Napi::Uint8Array();
  if (!ok) return info.Env().Undefined();
  socklen_t address_length = static_cast<socklen_t>(LengthOf(address));
  ssize_t received;
  do {
    received = recvfrom(static_cast<int>(fd), DataOf(data), LengthOf(data), static_cast<int>(flags),
                        reinterpret_cast<sockaddr*>(DataOf(address)), address.IsEmpty() ? nullptr : &address_length);
  } while (received < 0 && errno == EINTR);
  if (received < 0) return ThrowErrno(info.Env(), errno, "recvfrom");
  return Napi::Number::New(info.Env(), static_cast<double>(received));
}

// recvmsg(fd, data, flags, sockaddr?, control?) -> { bytes, addressBytes,
// controlBytes, flags }: one datagram into `data`, the sender's address into
// `sockaddr` and ancillary messages (cmsg) into `control`, with the lengths
// the kernel reports; `bytes` is the full datagram length with MSG_TRUNC.
Napi::Value Recvmsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  Napi::Uint8Array data = ok ? BytesArg(info, 1, "data", false, ok) : Napi::Uint8Array();
  int64_t flags = ok ? IntegerArg(info, 2, "flags", ok) : 0;
  Napi::Uint8Array address = ok ? BytesArg(info, 3, "sockaddr", true, ok) : Napi::Uint8Array();
  Napi::Uint8Array control = ok ? BytesArg(info, 4, "control", true, ok) : Napi::Uint8Array();
  if (!ok) return env.Undefined();
  iovec vector{DataOf(data), LengthOf(data)};
  msghdr message{};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  ssize_t received;
  do {
    message.msg_name = DataOf(address);
    message.msg_namelen = static_cast<socklen_t>(LengthOf(address));
    message.msg_control = DataOf(control);
    message.msg_controllen = LengthOf(control);
    received = recvmsg(static_cast<int>(fd), &message, static_cast<int>(flags));
  } while (received < 0 && errno == EINTR);
  if (received < 0) return ThrowErrno(env, errno, "recvmsg");
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(received)));
  result.Set("addressBytes", Napi::Number::New(env, message.msg_namelen));
  result.Set("controlBytes", Napi::Number::New(env, static_cast<double>(message.msg_controllen)));
  result.Set("flags", Napi::Number::New(env, message.msg_flags));
  return result;
}

// new FdWatcher(fd, callback): calls callback() on the event loop whenever
// fd is readable (libuv uv_poll, level-triggered) until stop(), so that
// JavaScript can drain a non-blocking descriptor without a thread and
// without blocking the loop. While it watches, it keeps itself alive and
// keeps the loop running.
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod<&FdWatcher::Stop>("stop")});
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    bool ok = true;
    int64_t fd = IntegerArg(info, 0, "fd", ok);
    if (!ok) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowType(env, "callback must be a function");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no libuv event loop in this environment").ThrowAsJavaScriptException();
      return;
    }
    auto* handle = new uv_poll_t;
    int error = uv_poll_init(loop, handle, static_cast<int>(fd));
    if (error != 0) {
      delete handle;
      ThrowErrno(env, -error, "uv_poll_init");
      return;
    }
    handle->data = this;
    error = uv_poll_start(handle, UV_READABLE, OnEvent);
    if (error != 0) {
      Release(handle);
      ThrowErrno(env, -error, "uv_poll_start");
      return;
    }
    handle_ = handle;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    Ref();
    napi_add_env_cleanup_hook(env, OnEnvironmentTeardown, this);
  }

  // Reached while still watching only when the environment is torn down.
  ~FdWatcher() override { StopPolling(); }

 private:
  static void Release(uv_poll_t* handle) {
    handle->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
  }

  // The handle outlives this object until libuv has closed it.
  void StopPolling() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    Release(handle_);
    handle_ = nullptr;
    napi_remove_env_cleanup_hook(Env(), OnEnvironmentTeardown, this);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      StopPolling();
      callback_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  static void OnEnvironmentTeardown(void* watcher) { static_cast<FdWatcher*>(watcher)->StopPolling(); }

  static void OnEvent(uv_poll_t* handle, int status, int /*events*/) {
    auto* watcher = static_cast<FdWatcher*>(handle->data);
    if (watcher == nullptr || watcher->callback_.IsEmpty()) return;
    Napi::Env env = watcher->Env();
    Napi::HandleScope scope(env);
    // MakeCallback, as for any I/O callback: microtasks run afterwards.
    watcher->callback_.MakeCallback(env.Global(), {Napi::Number::New(env, status)});
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
};

// setns(fd, nstype): move the calling thread into the namespace that fd
// refers to (an open /run/netns/NAME with CLONE_NEWNET, say). Sockets it
// creates afterwards belong to that namespace for their whole life.
Napi::Value Setns(const Napi::CallbackInfo& info) {
  bool ok = true;
  int64_t fd = IntegerArg(info, 0, "fd", ok);
  int64_t type = ok ? IntegerArg(info, 1, "nstype", ok) : 0;
  if (!ok) return info.Env().Undefined();
  if (setns(static_cast<int>(fd), static_cast<int>(type)) < 0) return ThrowErrno(info.Env(), errno, "setns");
  return info.Env().Undefined();
}

Napi::Value IfNametoindex(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  unsigned int index = if_nametoindex(name.c_str());
  if (index == 0) return ThrowErrno(info.Env(), errno, "if_nametoindex");
  return Napi::Number::New(info.Env(), index);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("bpf", Napi::Function::New(env, Bpf, "bpf"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("setsockopt", Napi::Function::New(env, Setsockopt, "setsockopt"));
  exports.Set("getsockopt", Napi::Function::New(env, Getsockopt, "getsockopt"));
  exports.Set("sendto", Napi::Function::New(env, Sendto, "sendto"));
  exports.Set("recvfrom", Napi::Function::New(env, Recvfrom, "recvfrom"));
  exports.Set("recvmsg", Napi::Function::New(env, Recvmsg, "recvmsg"));
  exports.Set("FdWatcher", FdWatcher::Define(env));
  exports.Set("setns", Napi::Function::New(env, Setns, "setns"));
  exports.Set("if_nametoindex", Napi::Function::New(env, IfNametoindex, "if_nametoindex"));
  return exports;
}

}  // namespace

NODE_API_MODULE(bpfgen_shim, Init)
