// JNI binding of dev.modelcast.Native: a thin layer over the C API (modelcast_fetch.h), so
// the Java API exercises exactly what a Swift or C app uses. Never lets a C++ exception
// reach the JVM; a Java exception thrown by the app's listener or transport is cleared and
// turned into the C API's answer (cancel, network error).
#include <jni.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "modelcast/modelcast_fetch.h"

namespace {

// Global references the callbacks need; freed with the handle.
struct JniFetcher {
  mc_fetcher* fetcher = nullptr;
  JavaVM* vm = nullptr;
  jobject progress = nullptr;   // dev.modelcast.ProgressListener or null
  jobject transport = nullptr;  // dev.modelcast.Transport or null
};

JNIEnv* env_of(JavaVM* vm) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_8) != JNI_OK) return nullptr;
  return env;  // callbacks run on the thread that called update(): always attached
}

std::string to_string(JNIEnv* env, jstring s) {
  if (!s) return std::string();
  const char* chars = env->GetStringUTFChars(s, nullptr);
  if (!chars) return std::string();
  std::string out(chars);
  env->ReleaseStringUTFChars(s, chars);
  return out;
}

std::vector<std::string> to_strings(JNIEnv* env, jobjectArray a) {
  std::vector<std::string> out;
  if (!a) return out;
  jsize n = env->GetArrayLength(a);
  for (jsize i = 0; i < n; ++i) {
    auto s = static_cast<jstring>(env->GetObjectArrayElement(a, i));
    out.push_back(to_string(env, s));
    env->DeleteLocalRef(s);
  }
  return out;
}

void throw_java(JNIEnv* env, const char* cls, const std::string& message) {
  jclass c = env->FindClass(cls);
  if (c) env->ThrowNew(c, message.c_str());
}

int on_progress(uint64_t done, uint64_t total, const char* file, void* payload) {
  auto* jf = static_cast<JniFetcher*>(payload);
  JNIEnv* env = env_of(jf->vm);
  if (!env) return 1;
  jclass cls = env->GetObjectClass(jf->progress);
  jmethodID m = env->GetMethodID(cls, "onProgress", "(JJLjava/lang/String;)Z");
  jstring jfile = env->NewStringUTF(file ? file : "");
  jboolean go_on = m ? env->CallBooleanMethod(jf->progress, m, static_cast<jlong>(done), static_cast<jlong>(total), jfile) : JNI_FALSE;
  env->DeleteLocalRef(jfile);
  env->DeleteLocalRef(cls);
  if (env->ExceptionCheck()) {  // a throwing listener cancels
    env->ExceptionClear();
    return 1;
  }
  return go_on ? 0 : 1;
}

// Builds dev.modelcast.HttpRequest and ResponseSink, calls Transport.get, maps the outcome.
int on_transport(const mc_http_request* req, const mc_http_sink* sink, void* payload) {
  auto* jf = static_cast<JniFetcher*>(payload);
  JNIEnv* env = env_of(jf->vm);
  if (!env) return MC_ENETWORK;
  if (env->PushLocalFrame(16) != 0) return MC_ENETWORK;
  int rc = MC_ENETWORK;
  jclass req_cls = env->FindClass("dev/modelcast/HttpRequest");
  jclass sink_cls = env->FindClass("dev/modelcast/ResponseSink");
  jclass refused_cls = env->FindClass("dev/modelcast/ResponseSink$Refused");
  jmethodID req_ctor = req_cls ? env->GetMethodID(req_cls, "<init>", "(Ljava/lang/String;Ljava/lang/String;JLjava/lang/String;III)V") : nullptr;
  jmethodID sink_ctor = sink_cls ? env->GetMethodID(sink_cls, "<init>", "(J)V") : nullptr;
  jclass transport_cls = env->GetObjectClass(jf->transport);
  jmethodID get = env->GetMethodID(transport_cls, "get", "(Ldev/modelcast/HttpRequest;Ldev/modelcast/ResponseSink;)V");
  if (req_ctor && sink_ctor && get && refused_cls) {
    jobject jreq = env->NewObject(req_cls, req_ctor, env->NewStringUTF(req->url),
                                  req->if_none_match ? env->NewStringUTF(req->if_none_match) : nullptr,
                                  static_cast<jlong>(req->range_start), env->NewStringUTF(req->user_agent ? req->user_agent : ""),
                                  req->connect_timeout_ms, req->low_speed_time_ms, req->total_timeout_ms);
    jobject jsink = env->NewObject(sink_cls, sink_ctor, reinterpret_cast<jlong>(sink));
    if (jreq && jsink) {
      env->CallVoidMethod(jf->transport, get, jreq, jsink);
      rc = MC_OK;
      if (jthrowable t = env->ExceptionOccurred()) {
        env->ExceptionClear();
        rc = MC_ENETWORK;
        if (env->IsInstanceOf(t, refused_cls)) {
          jfieldID code = env->GetFieldID(refused_cls, "code", "I");
          rc = code ? env->GetIntField(t, code) : MC_ECANCELLED;
        }
      }
    }
  }
  if (env->ExceptionCheck()) env->ExceptionClear();
  env->PopLocalFrame(nullptr);
  return rc;
}

const mc_http_sink* sink_of(jlong p) { return reinterpret_cast<const mc_http_sink*>(p); }
JniFetcher* handle_of(jlong h) { return reinterpret_cast<JniFetcher*>(h); }

void free_handle(JNIEnv* env, JniFetcher* jf) {
  if (!jf) return;
  mc_fetcher_free(jf->fetcher);
  if (jf->progress) env->DeleteGlobalRef(jf->progress);
  if (jf->transport) env->DeleteGlobalRef(jf->transport);
  delete jf;
}

}  // namespace

extern "C" {

JNIEXPORT jstring JNICALL Java_dev_modelcast_Native_version(JNIEnv* env, jclass) { return env->NewStringUTF(mc_version()); }

JNIEXPORT jlong JNICALL Java_dev_modelcast_Native_create(JNIEnv* env, jclass, jstring base_url, jstring cache_dir,
                                                        jobjectArray pems, jstring platform, jstring channel,
                                                        jstring app_version, jstring os_version, jobjectArray features,
                                                        jstring device_id,
                                                        jint keep_versions, jboolean allow_metered,
                                                        jboolean network_metered, jlong max_update_bytes,
                                                        jobject progress, jobject transport) {
  try {
    auto jf = std::make_unique<JniFetcher>();
    env->GetJavaVM(&jf->vm);
    std::string url = to_string(env, base_url), cache = to_string(env, cache_dir), plat = to_string(env, platform),
                chan = to_string(env, channel), appv = to_string(env, app_version), osv = to_string(env, os_version),
                dev = to_string(env, device_id);
    std::vector<std::string> keys = to_strings(env, pems), feats = to_strings(env, features);
    std::vector<const char*> key_ptrs, feat_ptrs;
    for (const auto& k : keys) key_ptrs.push_back(k.c_str());
    for (const auto& f : feats) feat_ptrs.push_back(f.c_str());
    mc_fetch_options o = MC_FETCH_OPTIONS_INIT;
    o.base_url = url.c_str();
    o.cache_dir = cache.c_str();
    o.pubkey_pems = key_ptrs.data();
    o.pubkey_count = key_ptrs.size();
    o.platform = plat.c_str();
    o.channel = channel ? chan.c_str() : nullptr;
    o.app_version = app_version ? appv.c_str() : nullptr;
    o.os_version = os_version ? osv.c_str() : nullptr;
    o.features = feat_ptrs.data();
    o.feature_count = feat_ptrs.size();
    o.device_id = device_id ? dev.c_str() : nullptr;
    o.keep_versions = keep_versions;
    o.allow_metered = allow_metered ? 1 : 0;
    o.network_metered = network_metered ? 1 : 0;
    o.max_update_bytes = max_update_bytes > 0 ? static_cast<uint64_t>(max_update_bytes) : 0;
    if (progress) {
      jf->progress = env->NewGlobalRef(progress);
      o.progress = on_progress;
      o.progress_payload = jf.get();
    }
    if (transport) {
      jf->transport = env->NewGlobalRef(transport);
      o.transport = on_transport;
      o.transport_payload = jf.get();
    }
    char err[512] = "";
    int rc = mc_fetcher_new(&jf->fetcher, &o, err, sizeof err);
    if (rc != MC_OK) {
      free_handle(env, jf.release());
      throw_java(env, rc == MC_EINVALID ? "java/lang/IllegalArgumentException" : "java/lang/IllegalStateException", err);
      return 0;
    }
    return reinterpret_cast<jlong>(jf.release());
  } catch (...) {
    throw_java(env, "java/lang/OutOfMemoryError", "modelcast: out of memory");
    return 0;
  }
}

JNIEXPORT void JNICALL Java_dev_modelcast_Native_free(JNIEnv* env, jclass, jlong h) { free_handle(env, handle_of(h)); }

JNIEXPORT jobject JNICALL Java_dev_modelcast_Native_update(JNIEnv* env, jclass, jlong h, jstring model) {
  JniFetcher* jf = handle_of(h);
  std::string name = to_string(env, model);
  mc_update_result r = MC_UPDATE_RESULT_INIT;
  int rc = mc_fetcher_update(&r, jf->fetcher, name.c_str());
  if (rc == MC_EINVALID) {
    throw_java(env, "java/lang/IllegalArgumentException", mc_fetcher_last_error(jf->fetcher));
    return nullptr;
  }
  jclass cls = env->FindClass("dev/modelcast/UpdateResult");
  jmethodID ctor = cls ? env->GetMethodID(cls, "<init>", "(IJLjava/lang/String;Ljava/lang/String;Ljava/lang/String;JJJZ)V") : nullptr;
  if (!ctor) return nullptr;
  return env->NewObject(cls, ctor, static_cast<jint>(r.status), static_cast<jlong>(r.active_version),
                        env->NewStringUTF(r.path ? r.path : ""), env->NewStringUTF(r.reason ? r.reason : ""),
                        env->NewStringUTF(r.message ? r.message : ""), static_cast<jlong>(r.offered_version),
                        static_cast<jlong>(r.bytes_downloaded), static_cast<jlong>(r.bytes_needed),
                        r.not_modified ? JNI_TRUE : JNI_FALSE);
}

JNIEXPORT jobject JNICALL Java_dev_modelcast_Native_open(JNIEnv* env, jclass, jlong h, jstring model) {
  JniFetcher* jf = handle_of(h);
  std::string name = to_string(env, model);
  mc_model* m = nullptr;
  int rc = mc_fetcher_open(&m, jf->fetcher, name.c_str());
  if (rc == MC_EINVALID) {
    throw_java(env, "java/lang/IllegalArgumentException", mc_fetcher_last_error(jf->fetcher));
    return nullptr;
  }
  if (rc != MC_OK) return nullptr;
  jclass string_cls = env->FindClass("java/lang/String");
  jsize n = static_cast<jsize>(mc_model_file_count(m));
  jobjectArray names = env->NewObjectArray(n, string_cls, nullptr);
  jobjectArray paths = env->NewObjectArray(n, string_cls, nullptr);
  for (jsize i = 0; names && paths && i < n; ++i) {
    env->SetObjectArrayElement(names, i, env->NewStringUTF(mc_model_file_name(m, static_cast<size_t>(i))));
    env->SetObjectArrayElement(paths, i, env->NewStringUTF(mc_model_file_path(m, static_cast<size_t>(i))));
  }
  jclass cls = env->FindClass("dev/modelcast/Model");
  jmethodID ctor = cls ? env->GetMethodID(cls, "<init>", "(JLjava/lang/String;Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)V") : nullptr;
  jobject out = nullptr;
  if (ctor && names && paths)
    out = env->NewObject(cls, ctor, static_cast<jlong>(mc_model_version(m)), env->NewStringUTF(mc_model_path(m)),
                         env->NewStringUTF(mc_model_root(m)), names, paths,
                         env->NewStringUTF(mc_model_config_json(m)));
  mc_model_free(m);
  return out;
}

JNIEXPORT void JNICALL Java_dev_modelcast_Native_cancel(JNIEnv*, jclass, jlong h) { mc_fetcher_cancel(handle_of(h)->fetcher); }

JNIEXPORT void JNICALL Java_dev_modelcast_Native_setNetworkMetered(JNIEnv*, jclass, jlong h, jboolean metered) {
  mc_fetcher_set_network_metered(handle_of(h)->fetcher, metered ? 1 : 0);
}

JNIEXPORT jint JNICALL Java_dev_modelcast_Native_sinkStatus(JNIEnv*, jclass, jlong s, jint status) {
  return sink_of(s)->status(sink_of(s)->ctx, status);
}

JNIEXPORT jint JNICALL Java_dev_modelcast_Native_sinkHeader(JNIEnv* env, jclass, jlong s, jstring name, jstring value) {
  std::string n = to_string(env, name), v = to_string(env, value);
  return sink_of(s)->header(sink_of(s)->ctx, n.c_str(), v.c_str());
}

JNIEXPORT jint JNICALL Java_dev_modelcast_Native_sinkBody(JNIEnv* env, jclass, jlong s, jbyteArray data, jint offset,
                                                          jint length) {
  if (length <= 0) return 0;
  // A copy of just this chunk: Critical access would block the GC during the library's write.
  try {
    std::vector<char> chunk(static_cast<size_t>(length));
    env->GetByteArrayRegion(data, offset, length, reinterpret_cast<jbyte*>(chunk.data()));
    if (env->ExceptionCheck()) return MC_EINVALID;
    return sink_of(s)->body(sink_of(s)->ctx, chunk.data(), chunk.size());
  } catch (...) {
    return MC_EINTERNAL;
  }
}

}  // extern "C"
