package dev.modelcast;

/** The JNI entry points (device-fetcher/jni/modelcast_jni.cc). */
final class Native {
  static {
    System.loadLibrary("modelcast_jni");
  }

  private Native() {}

  static native String version();

  static native long create(String baseUrl, String cacheDir, String[] publicKeyPems, String platform, String channel,
                            String appVersion, String osVersion, String[] features, String deviceId, int keepVersions,
                            boolean allowMetered, boolean networkMetered, long maxUpdateBytes,
                            ProgressListener progress, Transport transport);

  static native void free(long handle);

  static native UpdateResult update(long handle, String model);

  static native Model open(long handle, String model);

  static native void cancel(long handle);

  static native void setNetworkMetered(long handle, boolean metered);

  static native int sinkStatus(long sink, int status);

  static native int sinkHeader(long sink, String name, String value);

  static native int sinkBody(long sink, byte[] data, int offset, int length);
}
