package dev.modelcast;

import java.util.ArrayList;
import java.util.List;

/**
 * Keeps the newest acceptable version of each model in a cache folder on the device, and
 * the version it has whenever anything is wrong (offline, corrupt download, bad signature).
 *
 * <pre>
 * try (Fetcher f = new Fetcher(new Fetcher.Options()
 *         .baseUrl("https://models.example.com").cacheDir(filesDir + "/models")
 *         .publicKeyPem(PINNED_KEY).platform("android-arm64")
 *         .transport(new HttpClientTransport()))) {
 *   UpdateResult r = f.update("classifier");   // never throws for network or server trouble
 *   Model m = f.open("classifier");            // offline; null when no version is active
 * }
 * </pre>
 *
 * One thread at a time may call update/open/close on a Fetcher; {@link #cancel} and
 * {@link #setNetworkMetered} may be called from any thread.
 */
public final class Fetcher implements AutoCloseable {
  /** Options; every setter returns this. Strings are copied when the Fetcher is created. */
  public static final class Options {
    String baseUrl;
    String cacheDir;
    final List<String> publicKeyPems = new ArrayList<>();
    String platform;
    String channel;
    String appVersion;
    String osVersion;
    final List<String> features = new ArrayList<>();
    String deviceId;
    int keepVersions;
    boolean allowMetered = true;
    boolean networkMetered;
    long maxUpdateBytes;
    ProgressListener progress;
    Transport transport;

    /** https://, http:// or file:///abs/path of the published tree. */
    public Options baseUrl(String v) { baseUrl = v; return this; }
    public Options cacheDir(String v) { cacheDir = v; return this; }
    /** PEM text of a trusted Ed25519 public key; call once per key. */
    public Options publicKeyPem(String v) { publicKeyPems.add(v); return this; }
    public Options platform(String v) { platform = v; return this; }
    /** Default "stable". */
    public Options channel(String v) { channel = v; return this; }
    public Options appVersion(String v) { appVersion = v; return this; }
    /** The device's OS version, e.g. String.valueOf(Build.VERSION.SDK_INT) on Android; a
     *  version whose manifest requires a newer OS is refused (reason "unsupported"). */
    public Options osVersion(String v) { osVersion = v; return this; }
    public Options feature(String v) { features.add(v); return this; }
    /** Stable id for staged rollouts; without one the device joins only 100% rollouts. */
    public Options deviceId(String v) { deviceId = v; return this; }
    /** Version folders kept (the active one and older); default 2. */
    public Options keepVersions(int v) { keepVersions = v; return this; }
    /** Download conditions: false defers model downloads while the network is metered. */
    public Options allowMetered(boolean v) { allowMetered = v; return this; }
    /** Whether the network is metered now; see {@link Fetcher#setNetworkMetered}. */
    public Options networkMetered(boolean v) { networkMetered = v; return this; }
    /** Download conditions: an update needing more stored bytes is deferred; 0: no limit. */
    public Options maxUpdateBytes(long v) { maxUpdateBytes = v; return this; }
    public Options progress(ProgressListener v) { progress = v; return this; }
    /** The app's HTTP stack; null: the library's libcurl (when built with it). */
    public Options transport(Transport v) { transport = v; return this; }
  }

  private long handle;

  /** @throws IllegalArgumentException for a bad option (the message names it). */
  public Fetcher(Options o) {
    handle = Native.create(o.baseUrl, o.cacheDir, o.publicKeyPems.toArray(new String[0]), o.platform, o.channel,
                           o.appVersion, o.osVersion, o.features.toArray(new String[0]), o.deviceId, o.keepVersions,
                           o.allowMetered, o.networkMetered, o.maxUpdateBytes, o.progress, o.transport);
  }

  /** The library's version, e.g. "0.1.0". */
  public static String version() {
    return Native.version();
  }

  /** Checks the server and installs a newer version when there is one. Never throws for
   *  network, server or disk trouble: see the result's status and reason. */
  public UpdateResult update(String model) {
    return Native.update(live(), model);
  }

  /** Offline: the active version, or null when there is none. */
  public Model open(String model) {
    return Native.open(live(), model);
  }

  /** Any thread: stops a running update (reason "cancelled"). */
  public void cancel() {
    long h = handle;
    if (h != 0) Native.cancel(h);
  }

  /** Any thread: whether the network is metered now (read by the next update). */
  public void setNetworkMetered(boolean metered) {
    long h = handle;
    if (h != 0) Native.setNetworkMetered(h, metered);
  }

  @Override
  public void close() {
    long h = handle;
    handle = 0;
    if (h != 0) Native.free(h);
  }

  private long live() {
    if (handle == 0) throw new IllegalStateException("Fetcher is closed");
    return handle;
  }
}
