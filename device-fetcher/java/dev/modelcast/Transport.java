package dev.modelcast;

import java.io.IOException;

/**
 * The app's HTTP stack (OkHttp, Cronet, java.net.http). The library calls {@link #get} on the
 * updating thread for every GET it needs (the manifest, each model file); file:// URLs never
 * get here.
 *
 * <p>An implementation sends If-None-Match when {@link HttpRequest#ifNoneMatch} is not null,
 * "Range: bytes=N-" when {@link HttpRequest#rangeStart} is above 0, and the User-Agent; follows
 * redirects; never decompresses. It reports the answer through the sink: {@code status} once,
 * then the headers, then the body in chunks. A 304 or 404 is an answer, not an error. Throw an
 * IOException when the connection fails or the body is cut short. A sink method throws
 * {@link ResponseSink.Refused} when the library wants the transfer stopped (too many bytes,
 * cancel): let it propagate.
 */
public interface Transport {
  void get(HttpRequest request, ResponseSink sink) throws IOException;
}
