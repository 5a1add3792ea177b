package dev.modelcast;

import java.io.IOException;

/** Where a {@link Transport} streams one answer. Valid only during {@link Transport#get}. */
public final class ResponseSink {
  /** The library refused the answer or the update was cancelled: stop and let this propagate. */
  public static final class Refused extends IOException {
    public final int code;

    Refused(int code) {
      super("the library stopped the transfer (" + code + ")");
      this.code = code;
    }
  }

  private final long nativeSink;

  ResponseSink(long nativeSink) {
    this.nativeSink = nativeSink;
  }

  public void status(int httpStatus) throws Refused {
    check(Native.sinkStatus(nativeSink, httpStatus));
  }

  /** Any header; the library reads ETag, Content-Length and Content-Range. */
  public void header(String name, String value) throws Refused {
    check(Native.sinkHeader(nativeSink, name, value));
  }

  public void body(byte[] data, int offset, int length) throws Refused {
    if (offset < 0 || length < 0 || offset + length > data.length) throw new IndexOutOfBoundsException();
    check(Native.sinkBody(nativeSink, data, offset, length));
  }

  private static void check(int rc) throws Refused {
    if (rc != 0) throw new Refused(rc);
  }
}
