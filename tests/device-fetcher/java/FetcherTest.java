import dev.modelcast.Fetcher;
import dev.modelcast.HttpClientTransport;
import dev.modelcast.HttpRequest;
import dev.modelcast.Model;
import dev.modelcast.ResponseSink;
import dev.modelcast.Transport;
import dev.modelcast.UpdateResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Java API against a real nginx, with every GET done by java.net.http.HttpClient through
 * the transport callback. Usage: FetcherTest BASE_URL PUBKEY_PEM_FILE WORK_DIR PHASE
 * PHASE "install": first install, 304, open, conditions, cancel, bad input.
 * PHASE "v2": the server now offers v2 (the driver published it); update to it.
 * Prints one line per failed check; exits 1 when any failed.
 */
public final class FetcherTest {
  static int failures = 0;
  static int checks = 0;

  static void check(boolean ok, String what) {
    checks++;
    if (!ok) {
      failures++;
      System.err.println("FAILED: " + what);
    }
  }

  /** HttpClient, counting what the library asked for. */
  static final class CountingTransport implements Transport {
    final HttpClientTransport inner = new HttpClientTransport();
    final List<String> urls = new ArrayList<>();
    int conditional = 0;

    @Override
    public void get(HttpRequest request, ResponseSink sink) throws IOException {
      urls.add(request.url);
      if (request.ifNoneMatch != null) conditional++;
      inner.get(request, sink);
    }
  }

  static Fetcher.Options options(String url, String pem, Path cache, Transport t) {
    return new Fetcher.Options().baseUrl(url).cacheDir(cache.toString()).publicKeyPem(pem).platform("android-arm64")
        .appVersion("1.0").osVersion("14").transport(t);
  }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String pem = Files.readString(Path.of(args[1]));
    Path work = Path.of(args[2]);
    String phase = args[3];
    check(Fetcher.version().matches("\\d+\\.\\d+\\.\\d+"), "version() looks like 0.1.0: " + Fetcher.version());

    CountingTransport http = new CountingTransport();
    AtomicInteger progressCalls = new AtomicInteger();
    Fetcher.Options o = options(url, pem, work.resolve("cache"), http)
        .progress((done, total, file) -> { progressCalls.incrementAndGet(); return done <= total; });
    try (Fetcher f = new Fetcher(o)) {
      if (phase.equals("install")) {
        check(f.open("classifier") == null, "open before any update is null");
        UpdateResult r = f.update("classifier");
        check(r.status == UpdateResult.Status.UPDATED, "first update installs: " + r);
        check(r.activeVersion == 1, "v1 is active: " + r);
        check(r.reason.isEmpty(), "no reason: " + r);
        check(r.bytesDownloaded > 0 && r.bytesNeeded > 0, "bytes moved: " + r.bytesDownloaded);
        check(http.urls.size() == 5,
              "format 2 document (404 on this format 1 tree), manifest, key set (404) + 2 files through the Java transport: "
                  + http.urls);
        check(http.urls.get(0).endsWith("/manifests/classifier/stable/android-arm64.json"), "manifest first: " + http.urls);
        check(progressCalls.get() > 0, "progress listener called");

        r = f.update("classifier");
        check(r.status == UpdateResult.Status.CURRENT && r.notModified, "second check is a 304: " + r);
        check(http.conditional == 2, "If-None-Match sent with the format 2 and the format 1 request: " + http.conditional);
        check(http.urls.size() == 7, "the 304 check is two requests (format 2 404, format 1 304): " + http.urls.size());

        Model m = f.open("classifier");
        check(m != null && m.version == 1, "open gives v1");
        if (m != null) {
          check(m.fileNames.size() == 2, "two files: " + m.fileNames);
          check(m.root.equals(m.path), "two top-level files: the root is the version folder: " + m.root);
          int labels = m.fileNames.indexOf("labels.txt");
          check(labels >= 0 && Files.readString(Path.of(m.filePaths.get(labels))).equals("cat\ndog\n"), "labels.txt content");
          check(m.configJson.contains("\"labels\""), "config JSON: " + m.configJson);
        }
      } else {
        UpdateResult r = f.update("classifier");
        check(r.status == UpdateResult.Status.UPDATED && r.activeVersion == 2, "moves to v2: " + r);
        check(r.offeredVersion == 2, "offered v2: " + r);
      }
    }
    if (phase.equals("install")) {
      // Download conditions: over the byte limit, and metered when metered is not allowed.
      try (Fetcher f = new Fetcher(options(url, pem, work.resolve("limit"), new HttpClientTransport()).maxUpdateBytes(1000))) {
        UpdateResult r = f.update("classifier");
        check(r.status == UpdateResult.Status.NONE && r.reason.equals("deferred"), "over the limit is deferred: " + r);
        check(r.bytesDownloaded == 0 && r.bytesNeeded > 1000, "nothing downloaded when deferred: " + r.bytesDownloaded);
      }
      try (Fetcher f = new Fetcher(options(url, pem, work.resolve("metered"), new HttpClientTransport())
                                       .allowMetered(false).networkMetered(true))) {
        UpdateResult r = f.update("classifier");
        check(r.reason.equals("deferred") && r.message.contains("metered"), "metered is deferred: " + r);
        f.setNetworkMetered(false);
        r = f.update("classifier");
        check(r.status == UpdateResult.Status.UPDATED, "on an unmetered network it installs: " + r);
      }
      // Cancel from another call site while the body streams: the listener cancels.
      Fetcher[] self = new Fetcher[1];
      try (Fetcher f = new Fetcher(options(url, pem, work.resolve("cancel"), new HttpClientTransport())
                                       .progress((done, total, file) -> { self[0].cancel(); return true; }))) {
        self[0] = f;
        UpdateResult r = f.update("classifier");
        check(r.status == UpdateResult.Status.NONE && r.reason.equals("cancelled"), "cancel() stops the update: " + r);
        check(f.open("classifier") == null, "nothing installed after cancel");
      }
      // A transport that cannot connect: reason network, no exception.
      Transport down = (request, sink) -> { throw new java.net.ConnectException("connection refused"); };
      try (Fetcher f = new Fetcher(options(url, pem, work.resolve("down"), down))) {
        UpdateResult r = f.update("classifier");
        check(r.status == UpdateResult.Status.NONE && r.reason.equals("network"), "a failing transport is network: " + r);
      }
      // Bad options are an IllegalArgumentException naming the problem.
      try {
        new Fetcher(options(url, "not a key", work.resolve("bad"), down)).close();
        check(false, "a bad key is refused");
      } catch (IllegalArgumentException e) {
        check(!e.getMessage().isEmpty(), "bad key message: " + e.getMessage());
      }
      try {
        new Fetcher(options(url, pem, work.resolve("bad"), down).osVersion("fourteen")).close();
        check(false, "a malformed OS version is refused");
      } catch (IllegalArgumentException e) {
        check(e.getMessage().contains("OS version"), "bad OS version message: " + e.getMessage());
      }
    }
    System.out.println(phase + ": " + checks + " checks, " + failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }
}
