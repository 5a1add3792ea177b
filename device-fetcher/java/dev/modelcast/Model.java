package dev.modelcast;

import java.util.List;

/** The active version of a model: files to load and the signed config. Immutable. */
public final class Model {
  public final long version;
  /** The version folder. */
  public final String path;
  /** What the app loads: the single top-level folder when every file lies in one (a Core ML
   *  .mlpackage, a TensorFlow SavedModel), else the version folder. */
  public final String root;
  /** Paths relative to the folder, as in the manifest. */
  public final List<String> fileNames;
  /** Absolute paths, same order. */
  public final List<String> filePaths;
  /** signed.config as JSON text. */
  public final String configJson;

  Model(long version, String path, String root, String[] fileNames, String[] filePaths, String configJson) {
    this.version = version;
    this.path = path;
    this.root = root;
    this.fileNames = List.of(fileNames);
    this.filePaths = List.of(filePaths);
    this.configJson = configJson;
  }
}
