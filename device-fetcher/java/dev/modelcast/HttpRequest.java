package dev.modelcast;

/** One GET the library asks the app's {@link Transport} to perform. */
public final class HttpRequest {
  public final String url;
  /** The ETag to send as If-None-Match, or null. */
  public final String ifNoneMatch;
  /** Above 0: send "Range: bytes=rangeStart-". */
  public final long rangeStart;
  public final String userAgent;
  public final int connectTimeoutMs;
  /** Abandon a transfer stalled this long. */
  public final int lowSpeedTimeMs;
  /** 0: no whole-request deadline. */
  public final int totalTimeoutMs;

  HttpRequest(String url, String ifNoneMatch, long rangeStart, String userAgent, int connectTimeoutMs,
              int lowSpeedTimeMs, int totalTimeoutMs) {
    this.url = url;
    this.ifNoneMatch = ifNoneMatch;
    this.rangeStart = rangeStart;
    this.userAgent = userAgent;
    this.connectTimeoutMs = connectTimeoutMs;
    this.lowSpeedTimeMs = lowSpeedTimeMs;
    this.totalTimeoutMs = totalTimeoutMs;
  }
}
