package dev.modelcast;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** A {@link Transport} on java.net.http.HttpClient (Java 11+): one client, connections reused. */
public final class HttpClientTransport implements Transport {
  private final HttpClient client;

  public HttpClientTransport() {
    this(HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(Duration.ofSeconds(10)).build());
  }

  public HttpClientTransport(HttpClient client) {
    this.client = client;
  }

  @Override
  public void get(HttpRequest request, ResponseSink sink) throws IOException {
    java.net.http.HttpRequest.Builder b = java.net.http.HttpRequest.newBuilder(URI.create(request.url)).GET();
    if (request.ifNoneMatch != null) b.header("If-None-Match", request.ifNoneMatch);
    if (request.rangeStart > 0) b.header("Range", "bytes=" + request.rangeStart + "-");
    if (request.userAgent != null && !request.userAgent.isEmpty()) b.header("User-Agent", request.userAgent);
    if (request.totalTimeoutMs > 0) b.timeout(Duration.ofMillis(request.totalTimeoutMs));
    HttpResponse<InputStream> response;
    try {
      response = client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    try (InputStream body = response.body()) {
      sink.status(response.statusCode());
      for (Map.Entry<String, List<String>> h : response.headers().map().entrySet())
        for (String v : h.getValue()) sink.header(h.getKey(), v);
      byte[] buf = new byte[64 * 1024];
      for (int n; (n = body.read(buf)) > 0; ) sink.body(buf, 0, n);
    }
  }
}
