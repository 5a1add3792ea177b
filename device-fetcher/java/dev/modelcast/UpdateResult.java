package dev.modelcast;

/** What one {@link Fetcher#update} did. */
public final class UpdateResult {
  /** UPDATED: moved to a newer version; CURRENT: already the newest this device may take;
   *  FALLBACK: something was wrong, the previous version stays; NONE: no usable version. */
  public enum Status { UPDATED, CURRENT, FALLBACK, NONE }

  public final Status status;
  /** The active version afterwards; 0 when none. */
  public final long activeVersion;
  /** Its folder; "" when none. */
  public final String path;
  /** "" or why the device is not on the server's newest version: "network", "hash-mismatch",
   *  "signature", "rollout", "deferred" (download conditions), "cancelled", ... */
  public final String reason;
  public final String message;
  public final long offeredVersion;
  public final long bytesDownloaded;
  /** Stored bytes the offered version needed (also when deferred). */
  public final long bytesNeeded;
  public final boolean notModified;

  UpdateResult(int status, long activeVersion, String path, String reason, String message, long offeredVersion,
               long bytesDownloaded, long bytesNeeded, boolean notModified) {
    this.status = Status.values()[status];
    this.activeVersion = activeVersion;
    this.path = path;
    this.reason = reason;
    this.message = message;
    this.offeredVersion = offeredVersion;
    this.bytesDownloaded = bytesDownloaded;
    this.bytesNeeded = bytesNeeded;
    this.notModified = notModified;
  }

  @Override
  public String toString() {
    return status + " v" + activeVersion + (reason.isEmpty() ? "" : " (" + reason + ": " + message + ")");
  }
}
