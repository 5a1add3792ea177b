package dev.modelcast;

import java.util.List;

/** The active version of a model: files to load and the signed config. Immutable. */
public final class Model {
  public final long version;
  /** The version folder. */
  public final String path;
  /** Paths relative to the folder, as in the manifest. */
  public final List<String> fileNames;
  /** Absolute paths, same order. */
  public final List<String> filePaths;
  /** signed.config as JSON text. */
  public final String configJson;

  Model(long version, String path, String[] fileNames, String[] filePaths, String configJson) {
    this.version = version;
    this.path = path;
    this.fileNames = List.of(fileNames);
    this.filePaths = List.of(filePaths);
    this.configJson = configJson;
  }
}
