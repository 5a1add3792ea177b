package dev.modelcast;

/** Called on the updating thread while model files download. */
@FunctionalInterface
public interface ProgressListener {
  /** Return false to cancel the update (it then reports reason "cancelled"). */
  boolean onProgress(long bytesDone, long bytesTotal, String file);
}
